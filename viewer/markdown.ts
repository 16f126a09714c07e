/**
 * A small, safe subset of Markdown for markdown cells: headings, paragraphs, lists,
 * block quotes, fenced and indented code, rules, and inline code, emphasis and http(s)
 * links. Raw HTML is shown as text: the viewer never trusts a notebook's HTML outside a
 * sandboxed frame. Unsupported syntax degrades to its text.
 */
import { escapeHtml } from './html.js';

/** Inline markup of one escaped-later run of text. */
function inline(text: string): string {
  // Code spans first, so nothing inside them is interpreted.
  const parts = text.split(/(`+[^`]*?`+)/g);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(part.replace(/^`+|`+$/g, ''))}</code>`;
      let s = escapeHtml(part);
      s = s.replace(/!\[([^\]]*)\]\(([^)\s]*)\)/g, (_m, alt: string) => alt);
      s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (m, label: string, url: string) => {
        // The URL is already escaped text; only absolute http(s) links and in-page anchors.
        if (/^https?:\/\//i.test(url)) return `<a href="${url}" rel="noopener noreferrer nofollow" target="_blank">${label}</a>`;
        if (/^#[\w-]+$/.test(url)) return `<a href="${url}">${label}</a>`;
        return m;
      });
      s = s.replace(/\*\*(\S(?:.*?\S)?)\*\*|__(\S(?:.*?\S)?)__/g, (_m, a?: string, b?: string) => `<strong>${a ?? b}</strong>`);
      s = s.replace(/(^|[^\w*])\*(\S(?:.*?\S)?)\*(?!\w)|(^|[^\w])_(\S(?:.*?\S)?)_(?!\w)/g, (_m, p1?: string, a?: string, p2?: string, b?: string) => `${p1 ?? p2 ?? ''}<em>${a ?? b}</em>`);
      return s;
    })
    .join('');
}

export function renderMarkdown(source: string): string {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let para: string[] = [];
  let list: { ordered: boolean; items: string[] } | null = null;
  const flushPara = () => {
    if (para.length) out.push(`<p>${inline(para.join('\n'))}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.ordered ? 'ol' : 'ul'}>${list.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${list.ordered ? 'ol' : 'ul'}>`);
    list = null;
  };
  const flush = () => {
    flushPara();
    flushList();
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(fence[1]!); i++) body.push(lines[i]!);
      out.push(`<pre><code>${escapeHtml(body.join('\n'))}</code></pre>`);
      continue;
    }
    if (/^\s*$/.test(line)) {
      flush();
      continue;
    }
    const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      flush();
      const level = heading[1]!.length;
      out.push(`<h${level}>${inline(heading[2]!)}</h${level}>`);
      continue;
    }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      out.push('<hr>');
      continue;
    }
    const item = /^\s{0,3}(?:([-*+])|(\d{1,9})[.)])\s+(.*)$/.exec(line);
    if (item) {
      flushPara();
      const ordered = item[2] !== undefined;
      if (list && list.ordered !== ordered) flushList();
      list ??= { ordered, items: [] };
      list.items.push(item[3]!);
      continue;
    }
    const quote = /^\s{0,3}>\s?(.*)$/.exec(line);
    if (quote) {
      flush();
      out.push(`<blockquote>${inline(quote[1]!)}</blockquote>`);
      continue;
    }
    if (/^( {4}|\t)/.test(line) && para.length === 0 && !list) {
      const body: string[] = [];
      for (; i < lines.length && /^( {4}|\t|\s*$)/.test(lines[i]!); i++) body.push(lines[i]!.replace(/^( {4}|\t)/, ''));
      i--;
      out.push(`<pre><code>${escapeHtml(body.join('\n').replace(/\n+$/, ''))}</code></pre>`);
      continue;
    }
    if (list) {
      // A continuation line of the last list item.
      const items: string[] = (list as { items: string[] }).items;
      items[items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    para.push(line);
  }
  flush();
  return out.join('\n');
}
