/**
 * Markdown cells and `text/markdown` outputs, rendered by markdown-it (CommonMark plus
 * tables and strikethrough) with raw HTML off: a notebook's HTML shows as text, since the
 * viewer never trusts it outside a sandboxed frame. Links become anchors only for absolute
 * http(s) URLs and in-page `#anchors` (on top of markdown-it's own validateLink); any other
 * link shows its label as text. Images show their alt text: the page's CSP loads nothing.
 *
 * Bounding the work. markdown-it runs in linear time but not cheaply: its worst inputs we
 * found (`![` repeated) take about 2 µs a character, so 100 kB is ~0.2 s of one core. A page
 * therefore renders at most MARKDOWN_CELL_LIMIT characters per cell and MARKDOWN_PAGE_LIMIT
 * in all, and yields to the event loop before each cell, so another request waits at most
 * one cell's rendering. Anything over a limit gets a "too large to render here" note with a
 * link to the raw notebook. Size limits rather than a worker thread with a time limit: the
 * result does not depend on how busy the machine is (the same notebook always renders the
 * same way), nothing is killed half-way, and the HTML escaping and notebook parsing around
 * the Markdown stay on the main thread in either design.
 */
import MarkdownIt from 'markdown-it';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { escapeHtml } from './html.js';

/** Characters of Markdown one cell (or one `text/markdown` output) may have to be rendered. */
export const MARKDOWN_CELL_LIMIT = 100_000;
/** Characters of Markdown one page renders in all; later cells get the note instead. */
export const MARKDOWN_PAGE_LIMIT = 1_000_000;

const SAFE_HREF = /^(?:https?:\/\/|#[\w-]+$)/i;
const EXTERNAL = /^https?:\/\//i;

// markdown-it's default validateLink already refuses javascript:, vbscript:, file: and
// non-image data: URLs; link_open below narrows links further.
const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
// A link's label without the anchor when its URL is not one the viewer links to. Links do
// not nest in CommonMark, so one flag per render is enough.
let droppedLink = false;
md.renderer.rules['link_open'] = (tokens, idx) => {
  const href = String(tokens[idx]!.attrGet('href') ?? '');
  droppedLink = !SAFE_HREF.test(href);
  if (droppedLink) return '';
  const external = EXTERNAL.test(href) ? ' rel="noopener noreferrer nofollow" target="_blank"' : '';
  return `<a href="${escapeHtml(href)}"${external}>`;
};
md.renderer.rules['link_close'] = () => (droppedLink ? '' : '</a>');
md.renderer.rules['image'] = (tokens, idx, options, env, self) => escapeHtml(self.renderInlineAsText(tokens[idx]!.children ?? [], options, env));

/** One piece of Markdown as HTML, with no size limit (pages go through MarkdownBudget). */
export function renderMarkdown(source: string): string {
  droppedLink = false;
  return md.render(source);
}

// Rounded up, so that a cell just over the limit never reads as the limit itself.
const kB = (n: number) => `${Math.ceil(n / 1000).toLocaleString('en')} kB`;

/** The Markdown of one page, within the limits above. */
export class MarkdownBudget {
  private left: number;

  constructor(
    private readonly cellLimit = MARKDOWN_CELL_LIMIT,
    pageLimit = MARKDOWN_PAGE_LIMIT,
  ) {
    this.left = pageLimit;
  }

  /** The HTML, or why it was not rendered (a sentence for the "too large" note). */
  async render(source: string): Promise<{ html: string } | { tooLarge: string }> {
    if (source.length > this.cellLimit) return { tooLarge: `${kB(source.length)} of Markdown; the limit is ${kB(this.cellLimit)} a cell` };
    if (source.length > this.left) return { tooLarge: 'this page has already rendered as much Markdown as one page may' };
    this.left -= source.length;
    await yieldToEventLoop();
    return { html: renderMarkdown(source) };
  }
}
