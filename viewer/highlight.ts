/**
 * Code cells highlighted on the server by highlight.js, in the notebook's language
 * (`metadata.language_info.name`, else the kernelspec's `language`). highlight.js escapes
 * the code and emits only `<span class="hljs-…">`, so its output goes into the page as is.
 * Its regexes cost up to ~2 µs a character on hostile input, so a cell over
 * HIGHLIGHT_CELL_LIMIT characters, and every cell once a page has highlighted
 * HIGHLIGHT_PAGE_LIMIT, shows as plain escaped text; highlighting yields to the event loop
 * between cells, like the Markdown (markdown.ts). A cell magic (`%%sql`, `%%bash`) picks its
 * own language, as in JupyterLab.
 */
import hljs from 'highlight.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Notebook } from '../notebook/nbformat.js';
import { escapeHtml } from './html.js';

export const HIGHLIGHT_CELL_LIMIT = 50_000;
export const HIGHLIGHT_PAGE_LIMIT = 500_000;

// A cell magic's language (`%%sql` in a Python notebook), as JupyterLab highlights it.
const CELL_MAGICS: Record<string, string> = { sql: 'sql', bash: 'bash', sh: 'bash', html: 'xml', javascript: 'javascript', js: 'javascript', latex: 'latex', markdown: 'markdown', ruby: 'ruby', perl: 'perl' };

// Kernel languages whose highlight.js name differs.
const ALIASES: Record<string, string> = { ipython: 'python', ipython3: 'python', 'c++': 'cpp', 'c#': 'csharp', sparksql: 'sql', pyspark: 'python' };

/** The highlight.js language of a notebook, if highlight.js knows it. */
export function notebookLanguage(nb: Notebook): string | undefined {
  const name = (nb.metadata.language_info?.name ?? nb.metadata.kernelspec?.language ?? '').toLowerCase();
  const lang = ALIASES[name] ?? name;
  return lang && hljs.getLanguage(lang) ? lang : undefined;
}

/** Highlights a page's code cells, each at most once, within the limits above. */
export class Highlighter {
  private left = HIGHLIGHT_PAGE_LIMIT;

  constructor(private readonly language: string | undefined) {}

  /** The cell's source as HTML: highlighted, or escaped when over a limit or language-less. */
  async render(source: string): Promise<string> {
    const magic = /^%%(\w+)/.exec(source)?.[1];
    const language = (magic && CELL_MAGICS[magic]) || this.language;
    if (!language || source.length > HIGHLIGHT_CELL_LIMIT || source.length > this.left) return escapeHtml(source);
    this.left -= source.length;
    await yieldToEventLoop();
    return hljs.highlight(source, { language, ignoreIllegals: true }).value;
  }
}
