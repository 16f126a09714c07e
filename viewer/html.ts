/**
 * HTML built from strings, escaped at every interpolation: the viewer shows notebooks
 * written by anyone, so nothing a notebook holds reaches the page unescaped.
 *
 * Hand-written, and why: a tagged template that escapes by default is a few lines, and
 * every page is built on the server, so a template engine or a front-end framework would
 * add a dependency (none may be added) without making the escaping any safer.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text → HTML text or attribute value (always quoted with "). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** HTML that is already safe: produced by this module's helpers, never from notebook data. */
export class SafeHtml {
  constructor(readonly html: string) {}
  toString(): string {
    return this.html;
  }
}

type Part = SafeHtml | string | number | null | undefined | false | Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof SafeHtml) return part.html;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
}

/** Tagged template: interpolated values are escaped unless they are SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Part[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

/** A path inside the viewer, each segment percent-encoded. */
export function hrefFor(prefix: string, path: string, query?: Record<string, string | number>): string {
  const encoded = path
    .split('/')
    .filter((s) => s !== '')
    .map(encodeURIComponent)
    .join('/');
  const qs = query ? `?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString()}` : '';
  return `${prefix}${encoded}${qs}`;
}
