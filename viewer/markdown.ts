/**
 * Markdown cells and `text/markdown` outputs, rendered by markdown-it (CommonMark plus
 * tables and strikethrough). The page's renderer has raw HTML off: a notebook's HTML never
 * reaches the page. A cell that holds raw HTML (markdown-it's html_block or html_inline
 * tokens, read with HTML on) is rendered whole, HTML included, by a second renderer and
 * comes back `framed`: the page puts it in a sandboxed frame (render-notebook.ts), the model
 * of HTML outputs. Math in such a cell is KaTeX's MathML only, which the browser lays out
 * without KaTeX's style sheet (the frame loads nothing). Links become anchors only for absolute
 * http(s) URLs and in-page `#anchors` (on top of markdown-it's own validateLink); any other
 * link shows its label as text. Math is typeset by KaTeX (math.ts). Images are shown when
 * the page holds their bytes: a cell's `attachment:` images and `data:` image URIs, as
 * data: URIs (SVG only inside an <img>, where it cannot run script); the page's CSP loads
 * nothing from elsewhere, so an http(s) image is a link to it, labelled with its alt text.
 *
 * Bounding the work. markdown-it runs in linear time but not cheaply: its worst inputs we
 * found (`![` repeated) take about 2 µs a character, so 100 kB is ~0.2 s of one core. A page
 * therefore renders at most MARKDOWN_CELL_LIMIT characters per cell and MARKDOWN_PAGE_LIMIT
 * in all (and typesets at most MATH_PAGE_LIMIT formulas), and yields to the event loop
 * before each cell, so another request waits at most one cell's rendering. Anything over a
 * limit gets a "too large to render here" note with a link to the raw notebook. Size limits rather than a worker thread with a time limit: the
 * result does not depend on how busy the machine is (the same notebook always renders the
 * same way), nothing is killed half-way, and the HTML escaping and notebook parsing around
 * the Markdown stay on the main thread in either design.
 */
import hljs from 'highlight.js';
import MarkdownIt, { type Token } from 'markdown-it';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { MimeBundle } from '../notebook/nbformat.js';
import { escapeHtml } from './html.js';
import { MATH_PAGE_LIMIT, mathPlugin, type MathOutput } from './math.js';

/** Characters of Markdown one cell (or one `text/markdown` output) may have to be rendered. */
export const MARKDOWN_CELL_LIMIT = 100_000;
/** Characters of Markdown one page renders in all; later cells get the note instead. */
export const MARKDOWN_PAGE_LIMIT = 1_000_000;

const SAFE_HREF = /^(?:https?:\/\/|#[\w-]+$)/i;
const EXTERNAL = /^https?:\/\//i;

// markdown-it's default validateLink already refuses javascript:, vbscript:, file: and
// non-image data: URLs; link_open below narrows links further.
// Fenced code with a language highlighted as code cells are (highlight.js escapes its output;
// markdown-it escapes the code itself when this returns '').
const highlightFence = (code: string, lang: string) => (lang && hljs.getLanguage(lang) ? hljs.highlight(code, { language: lang, ignoreIllegals: true }).value : '');
const IMAGE_DATA = /^data:image\/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}$/;
const ATTACHMENT_MIMES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml'];

/** What an image rule knows beyond the Markdown: the cell's attachments. */
export interface MarkdownEnv {
  attachments?: Record<string, MimeBundle>;
  /** Formulas this page may still typeset (math.ts). */
  mathLeft?: number;
  [key: string | symbol]: unknown;
}

function imageSource(src: string, env: MarkdownEnv): string | undefined {
  const name = /^attachment:(.+)$/i.exec(src)?.[1];
  if (name !== undefined) {
    const bundle = env.attachments?.[decodeURIComponentSafe(name)] ?? env.attachments?.[name];
    const mime = ATTACHMENT_MIMES.find((m) => typeof bundle?.[m] === 'string' || Array.isArray(bundle?.[m]));
    if (!mime) return undefined;
    const value = bundle![mime];
    const text = Array.isArray(value) ? value.join('') : String(value);
    const base64 = mime === 'image/svg+xml' && text.trimStart().startsWith('<') ? Buffer.from(text, 'utf8').toString('base64') : text.replace(/\s+/g, '');
    src = `data:${mime};base64,${base64}`;
  }
  return IMAGE_DATA.test(src) ? src : undefined;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// A link's label without the anchor when its URL is not one the viewer links to. Links do
// not nest in CommonMark, and a render is synchronous, so one flag for both renderers is enough.
let droppedLink = false;

/** The viewer's markdown-it: `html` lets raw HTML through (only ever for a sandboxed frame). */
function markdownIt(options: { html: boolean; math: MathOutput }): InstanceType<typeof MarkdownIt> {
  const md = new MarkdownIt({ html: options.html, linkify: false, typographer: false, highlight: highlightFence }).use(mathPlugin, options.math);
  // markdown-it refuses data: URLs other than a few raster images; attachment: is not a URL
  // scheme it knows either. Both are resolved by the image rule below, from the page's bytes.
  const validateLink = md.validateLink.bind(md);
  md.validateLink = (url) => validateLink(url) || /^attachment:/i.test(url) || /^data:image\/svg\+xml;base64,/i.test(url);
  md.renderer.rules['link_open'] = (tokens, idx) => {
    const href = String(tokens[idx]!.attrGet('href') ?? '');
    droppedLink = !SAFE_HREF.test(href);
    if (droppedLink) return '';
    const external = EXTERNAL.test(href) ? ' rel="noopener noreferrer nofollow" target="_blank"' : '';
    return `<a href="${escapeHtml(href)}"${external}>`;
  };
  md.renderer.rules['link_close'] = () => (droppedLink ? '' : '</a>');
  // The page's renderer escapes raw HTML even in tokens it did not parse itself
  // (renderMarkdownCell hands it the framed renderer's tokens when they hold none).
  if (!options.html) md.renderer.rules['html_block'] = md.renderer.rules['html_inline'] = (tokens, idx) => escapeHtml(tokens[idx]!.content);
  md.renderer.rules['image'] = (tokens, idx, opts, env: MarkdownEnv | undefined, self) => {
    const token = tokens[idx]!;
    const alt = self.renderInlineAsText(token.children ?? [], opts, env);
    const src = String(token.attrGet('src') ?? '');
    const uri = imageSource(src, env ?? {});
    if (uri) {
      const title = token.attrGet('title');
      return `<img class="md-image" src="${escapeHtml(uri)}" alt="${escapeHtml(alt)}"${title ? ` title="${escapeHtml(String(title))}"` : ''}>`;
    }
    if (EXTERNAL.test(src)) return `<a class="md-image-link" href="${escapeHtml(src)}" rel="noopener noreferrer nofollow" target="_blank">${escapeHtml(alt || src)}</a>`;
    return escapeHtml(alt);
  };
  return md;
}

const md = markdownIt({ html: false, math: 'htmlAndMathml' });
const mdFramed = markdownIt({ html: true, math: 'mathml' });

/** One piece of Markdown as HTML for the page (raw HTML as text), with no size limit. */
export function renderMarkdown(source: string, env: MarkdownEnv = {}): string {
  droppedLink = false;
  return md.render(source, env);
}

const isHtml = (t: Token) => t.type === 'html_block' || t.type === 'html_inline';

/**
 * A cell's Markdown, with no size limit (pages go through MarkdownBudget): `html` for the
 * page, or `framed` (raw HTML rendered) when the cell holds raw HTML. Parsed once, with HTML
 * on: without HTML tokens the parse is the one the page's renderer would make.
 */
export function renderMarkdownCell(source: string, env: MarkdownEnv = {}): { html: string } | { framed: string } {
  droppedLink = false;
  const tokens = mdFramed.parse(source, env);
  const framed = tokens.some((t) => isHtml(t) || (t.children ?? []).some(isHtml));
  return framed ? { framed: mdFramed.renderer.render(tokens, mdFramed.options, env) } : { html: md.renderer.render(tokens, md.options, env) };
}

// Rounded up, so that a cell just over the limit never reads as the limit itself.
const kB = (n: number) => `${Math.ceil(n / 1000).toLocaleString('en')} kB`;

/** The Markdown of one page, within the limits above. */
export class MarkdownBudget {
  private left: number;
  private mathLeft = MATH_PAGE_LIMIT;

  constructor(
    private readonly cellLimit = MARKDOWN_CELL_LIMIT,
    pageLimit = MARKDOWN_PAGE_LIMIT,
  ) {
    this.left = pageLimit;
  }

  /** The HTML (`framed` when it holds raw HTML), or why it was not rendered (a sentence for the "too large" note). */
  async render(source: string, env: MarkdownEnv = {}): Promise<{ html: string } | { framed: string } | { tooLarge: string }> {
    if (source.length > this.cellLimit) return { tooLarge: `${kB(source.length)} of Markdown; the limit is ${kB(this.cellLimit)} a cell` };
    if (source.length > this.left) return { tooLarge: 'this page has already rendered as much Markdown as one page may' };
    this.left -= source.length;
    await yieldToEventLoop();
    const pageEnv = { ...env, mathLeft: this.mathLeft };
    const out = renderMarkdownCell(source, pageEnv);
    this.mathLeft = pageEnv.mathLeft;
    return out;
  }
}
