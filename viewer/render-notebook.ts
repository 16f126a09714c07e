/**
 * An output notebook as one HTML page: run metadata, papermill's error banner, and each
 * cell with its source, papermill status and outputs. Everything from the notebook is
 * escaped; HTML outputs, and Markdown cells with raw HTML, go into sandboxed frames (opaque origin, no script but the one that
 * reports their height), images into data: URIs, so a notebook can never run script in the
 * viewer's origin.
 */
import { notebookMillrace } from '../record/metadata.js';
import { cellNumbers, cellRecord } from '../notebook/record.js';
import { describePlacement } from '../notebook/placement-syntax.js';
import { cellTags, sourceText, type Cell, type MarkdownCell, type Notebook, type Output } from '../notebook/nbformat.js';
import { GLUE_PAYLOAD_PREFIX, runFacts } from '../notebook/scrapbook.js';
import { ansiToHtml } from './ansi.js';
import { FRAME_SCRIPT, FRAME_SCRIPT_HASH } from './frame-size.js';
import { Highlighter, notebookLanguage } from './highlight.js';
import { hrefFor, html, SafeHtml } from './html.js';
import { jsonTree } from './json-tree.js';
import { MarkdownBudget } from './markdown.js';
import { FRAME_MARKDOWN_STYLE, page } from './page.js';
import { mergeStreams } from './streams.js';

type Safe = SafeHtml;

const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/gif'];
const MIME_ORDER = [...IMAGE_MIMES, 'image/svg+xml', 'text/html', 'text/markdown', 'text/latex', 'application/json', 'text/plain'];

const raw = (s: string) => new SafeHtml(s);
/**
 * The parts of a page rendered ahead of the cells, asynchronously and within limits: the
 * Markdown of its cells and outputs and the highlighted source of its code cells, keyed by
 * the cell or output.
 */
type MarkdownHtml = Map<object, Safe>;
const text = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) ? v.join('') : '');

function imageSize(output: { metadata?: Record<string, unknown> }, mime: string): Safe {
  const meta = output.metadata?.[mime] as { width?: unknown; height?: unknown } | undefined;
  const w = typeof meta?.width === 'number' ? Math.round(meta.width) : undefined;
  const h = typeof meta?.height === 'number' ? Math.round(meta.height) : undefined;
  return html`${w ? html` width="${w}"` : ''}${h ? html` height="${h}"` : ''}`;
}

/**
 * A notebook's HTML in a sandboxed frame (opaque origin) with its own CSP, where only
 * frame-size.ts's script runs: it reports the content's height so the page can size the
 * frame. The first height, until then (or without script), is estimated from the markup;
 * an HTML output's frame can also be resized by hand. `markdown`: a Markdown cell with raw
 * HTML, rendered whole (markdown.ts), styled as the page's Markdown.
 */
function htmlFrame(markup: string, kind: 'output' | 'markdown' = 'output'): Safe {
  const rows = (markup.match(/<tr[\s>]/gi) ?? []).length;
  const lines = (markup.match(/<br|<p[\s>]|<li[\s>]|<div[\s>]|<h\d/gi) ?? []).length;
  const height = Math.min(640, Math.max(48, 24 + rows * 27 + lines * 22));
  const style =
    kind === 'markdown'
      ? FRAME_MARKDOWN_STYLE
      : // JupyterLab's rendered-HTML table style (what DataFrames look like there and in nbconvert).
        'body{margin:4px;font:13px/1.4 system-ui,sans-serif}table{border:none;border-collapse:collapse;border-spacing:0;font-size:12px}' +
        'thead{border-bottom:1px solid #000;vertical-align:bottom}td,th,tr{text-align:right;vertical-align:middle;padding:.5em;line-height:normal;white-space:normal;border:none}' +
        'th{font-weight:bold}tbody tr:nth-child(odd){background:#f5f5f5}tbody tr:hover{background:rgba(66,165,245,.2)}';
  const doc =
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src ${FRAME_SCRIPT_HASH}">` +
    `<style>${style}</style></head><body>${kind === 'markdown' ? `<div class="markdown">${markup}</div>` : markup}<script>${FRAME_SCRIPT}</script></body></html>`;
  const [className, title] = kind === 'markdown' ? ['markdown-html', 'Markdown with HTML'] : ['html-output', 'HTML output'];
  return html`<iframe class="${className}" sandbox="allow-scripts" referrerpolicy="no-referrer" title="${title}" style="height:${height}px" srcdoc="${doc}"></iframe>`;
}

function dataUri(mime: string, base64: string): string | undefined {
  const clean = base64.replace(/\s+/g, '');
  return /^[A-Za-z0-9+/]*={0,2}$/.test(clean) ? `data:${mime};base64,${clean}` : undefined;
}

type RichOutput = Extract<Output, { output_type: 'display_data' | 'execute_result' }>;

const shownMime = (data: Record<string, unknown>) => MIME_ORDER.find((m) => m in data);

function richOutput(output: RichOutput, markdown: MarkdownHtml): Safe {
  const data = output.data ?? {};
  const glued = Object.keys(data).filter((m) => m.startsWith(GLUE_PAYLOAD_PREFIX) || m.startsWith('application/papermill.record'));
  const mime = shownMime(data);
  if (!mime) {
    if (glued.length) {
      const payload = data[glued[0]!] as { name?: unknown; data?: unknown; encoder?: unknown } | undefined;
      const value = JSON.stringify(payload?.data) ?? '';
      return html`<div class="scrap">scrapbook value <code>${String(payload?.name ?? '')}</code> (${String(payload?.encoder ?? 'json')}) = <code>${value.length > 200 ? `${value.slice(0, 200)}…` : value}</code></div>`;
    }
    return html`<div class="unsupported">output of type ${Object.keys(data).join(', ') || 'none'} not shown</div>`;
  }
  const value = data[mime];
  if (IMAGE_MIMES.includes(mime)) {
    const uri = dataUri(mime, text(value));
    return uri ? html`<img class="image-output" alt="${mime} output" src="${uri}"${imageSize(output, mime)}>` : html`<div class="unsupported">invalid ${mime} data</div>`;
  }
  if (mime === 'image/svg+xml') {
    // As an <img>, an SVG cannot run script or load anything.
    return html`<img class="image-output" alt="SVG output" src="data:image/svg+xml;base64,${Buffer.from(text(value), 'utf8').toString('base64')}"${imageSize(output, mime)}>`;
  }
  if (mime === 'text/html') return htmlFrame(text(value));
  if (mime === 'text/markdown') return html`<div class="markdown">${markdown.get(output)}</div>`;
  // LaTeX outputs (SymPy's `$\displaystyle …$`) go through the Markdown renderer, which
  // typesets their delimited math with KaTeX, as JupyterLab typesets them with MathJax.
  if (mime === 'text/latex') return html`<div class="latex-output">${markdown.get(output)}</div>`;
  // JSON as a tree, as JupyterLab shows it; too big for one, as text (folded when long, as
  // long text results are).
  if (mime === 'application/json') {
    const tree = jsonTree(value);
    if (tree !== undefined) return raw(tree);
    const json = JSON.stringify(value, null, 2) ?? '';
    return foldable(json, html`<pre class="output json">${json}</pre>`);
  }
  const plain = text(value);
  return foldable(plain, html`<pre class="output">${raw(ansiToHtml(plain))}</pre>`);
}

/** Text outputs longer than this many lines are collapsible, and scroll while open. */
export const LONG_OUTPUT_LINES = 50;

function foldable(body: string, block: Safe): Safe {
  let lines = 1;
  for (let i = body.indexOf('\n'); i >= 0 && i < body.length - 1; i = body.indexOf('\n', i + 1)) lines++;
  if (lines <= LONG_OUTPUT_LINES) return block;
  return html`<details class="long-output" open><summary>${lines.toLocaleString('en')} lines of output</summary>${block}</details>`;
}

function outputHtml(output: Output, markdown: MarkdownHtml): Safe {
  switch (output.output_type) {
    case 'stream': {
      const body = text(output.text);
      return foldable(body, html`<pre class="stream ${output.name === 'stderr' ? 'stderr' : 'stdout'}">${raw(ansiToHtml(body))}</pre>`);
    }
    case 'error': {
      const body = (output.traceback ?? []).join('\n') || `${output.ename}: ${output.evalue}`;
      return foldable(body, html`<pre class="traceback">${raw(ansiToHtml(body))}</pre>`);
    }
    case 'execute_result':
      return html`<div class="result"><span class="prompt out">Out [${output.execution_count ?? ' '}]:</span>${richOutput(output, markdown)}</div>`;
    case 'display_data':
      return richOutput(output, markdown);
    default:
      return html``;
  }
}

function statusBadge(cell: Cell): Safe {
  const rec = cellRecord(cell);
  if (!rec) return html``;
  const duration = typeof rec.duration === 'number' ? ` ${rec.duration.toFixed(2)} s` : '';
  return html`<span class="badge status-${rec.status}" title="papermill status">${rec.status}${duration}</span>`;
}

/** papermill's banner and anchor cells, shown as the viewer's own (their HTML is not rendered). */
function errorMarker(cell: Cell): Safe {
  const source = sourceText(cell.source);
  if (source.includes('id="papermill-error-cell"')) {
    return html`<div class="error-anchor" id="papermill-error-cell">Execution using papermill encountered an exception here and stopped:</div>`;
  }
  const at = /In \[([^\]]*)\]/.exec(source)?.[1] ?? '';
  return html`<div class="error-banner">An Exception was encountered at <a href="#papermill-error-cell">In [${at}]</a>.</div>`;
}

/** `index` is the cell's number (cellNumbers), null for papermill's marker cells. */
function cellHtml(cell: Cell, index: number | null, markdown: MarkdownHtml): Safe {
  if (index === null) return errorMarker(cell);
  const status = cellRecord(cell)?.status ?? 'unknown';
  if (cell.cell_type === 'markdown') {
    return html`<section class="cell markdown" id="cell-${index}"><div class="markdown">${markdown.get(cell)}</div></section>`;
  }
  if (cell.cell_type === 'raw') {
    return html`<section class="cell raw" id="cell-${index}"><pre class="source">${sourceText(cell.source)}</pre></section>`;
  }
  const tags = cellTags(cell);
  return html`<section class="cell code status-${status}" id="cell-${index}">
<div class="cell-head"><span class="prompt in">In [${cell.execution_count ?? ' '}]:</span>${statusBadge(cell)}${tags.map((t) => html`<span class="tag">${t}</span>`)}<a class="cell-link" href="#cell-${index}">cell ${index}</a></div>
<pre class="source">${markdown.get(cell) ?? sourceText(cell.source)}</pre>
${cell.outputs.length ? html`<div class="outputs">${mergeStreams(cell.outputs).map((o) => outputHtml(o, markdown))}</div>` : ''}
</section>`;
}

function formatValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export interface NotebookPageOptions {
  /** Path of the notebook in the store, e.g. `runs/<id>/nb.ipynb`. */
  path: string;
  /** Links shown in the header. */
  contentsHref: string;
  rawHref: string;
  /** The standalone HTML download (/export/). */
  exportHref: string;
  /** Set when rendering that download: KaTeX's CSS, fonts inlined, goes into the page. */
  standalone?: { katexCss: string };
  /** Other objects in the run's folder. */
  siblings?: Array<{ name: string; href: string }>;
  /** A run's comparison with its previous run (/compare/). */
  compareHref?: string;
  /** Runs that resumed this one (its folder's `resumed-as.json`). */
  resumedAs?: string[];
}

/**
 * Every Markdown cell and `text/markdown` output of the page, in order, within one
 * MarkdownBudget (markdown.ts): what is over a limit gets a note linking to the download.
 * Code cells' sources, highlighted within the Highlighter's limits (highlight.ts).
 */
async function renderPageMarkdown(nb: Notebook, numbers: Array<number | null>, rawHref: string): Promise<MarkdownHtml> {
  const budget = new MarkdownBudget();
  const highlighter = new Highlighter(notebookLanguage(nb));
  const out: MarkdownHtml = new Map();
  const add = async (key: object, source: string, attachments?: MarkdownCell['attachments']) => {
    const r = await budget.render(source, attachments ? { attachments } : {});
    out.set(key, 'html' in r ? raw(r.html) : 'framed' in r ? htmlFrame(r.framed, 'markdown') : html`<p class="too-large">Too large to render here (${r.tooLarge}) — <a href="${rawHref}">download the notebook</a>.</p>`);
  };
  for (const [i, cell] of nb.cells.entries()) {
    if (cell.cell_type === 'markdown' && numbers[i] !== null) await add(cell, sourceText(cell.source), cell.attachments);
    if (cell.cell_type !== 'code') continue;
    out.set(cell, raw(await highlighter.render(sourceText(cell.source))));
    for (const output of cell.outputs) {
      if (output.output_type !== 'display_data' && output.output_type !== 'execute_result') continue;
      const mime = shownMime(output.data ?? {});
      if (mime === 'text/markdown' || mime === 'text/latex') await add(output, text(output.data?.[mime]));
    }
  }
  return out;
}

export async function renderNotebookPage(nb: Notebook, options: NotebookPageOptions): Promise<string> {
  const facts = runFacts(nb);
  const name = options.path.split('/').pop() ?? options.path;
  const params = Object.entries(facts.parameters);
  // The numbers the CLI, `resume --from-cell` and the inspector use: papermill's banner and
  // anchor cells are not counted.
  const numbers = cellNumbers(nb);
  const failedAt = nb.cells.findIndex((c) => c.cell_type === 'code' && cellRecord(c)?.status === 'failed');
  const failed = failedAt >= 0 ? numbers[failedAt]! : -1;
  const hasBanner = numbers.includes(null);
  const { resumed_from: resumedFrom, kernel } = notebookMillrace(nb);
  // Where a container kernel ran (variable names only, as recorded).
  const placement = describePlacement(kernel);
  // A notebook that no run wrote (a source, a file put in the store) has no status.
  const isRecord = nb.metadata['papermill'] !== undefined || nb.metadata['millrace'] !== undefined;
  const markdown = await renderPageMarkdown(nb, numbers, options.rawHref);
  const body = html`
<nav><a href="/runs">← runs</a></nav>
<header>
<h1>${facts.run_id ?? name}${isRecord ? html` <span class="badge run-status status-${facts.status}">${facts.status}</span>` : ''}${options.resumedAs?.length ? html` <span class="badge resumed" title="a later run resumed this one">resumed</span>` : ''}</h1>
<dl class="facts">
<dt>notebook</dt><dd>${name}</dd>
<dt>path</dt><dd><code>${options.path}</code></dd>
${facts.schedule ? html`<dt>schedule</dt><dd>${facts.schedule}</dd>` : ''}
${placement ? html`<dt>image</dt><dd class="placement">${placement}</dd>` : ''}
<dt>started</dt><dd>${facts.start_time ?? '—'}</dd>
<dt>ended</dt><dd>${facts.end_time ?? '—'}</dd>
<dt>duration</dt><dd>${facts.duration_s === null ? '—' : `${facts.duration_s.toFixed(2)} s`}</dd>
${failed >= 0 ? html`<dt>${facts.status === 'paused' ? 'paused at' : 'failed at'}</dt><dd><a class="failed-link" href="#cell-${failed}">cell ${failed}</a></dd>` : ''}
${resumedFrom ? html`<dt>resumed from</dt><dd><a class="resumed-from" href="${hrefFor('/runs/', resumedFrom.run_id)}">${resumedFrom.run_id}</a> at cell ${resumedFrom.from_cell}</dd>` : ''}
${options.resumedAs?.length ? html`<dt>resumed as</dt><dd>${options.resumedAs.map((id, k) => html`${k ? ', ' : ''}<a class="resumed-as" href="${hrefFor('/runs/', id)}">${id}</a>`)}</dd>` : ''}
</dl>
${params.length ? html`<table class="params"><caption>parameters</caption><tbody>${params.map(([k, v]) => html`<tr><th>${k}</th><td><code>${formatValue(v)}</code></td></tr>`)}</tbody></table>` : html`<p class="muted">no parameters</p>`}
<p class="links"><a href="${options.contentsHref}">contents API model</a> · <a class="download-ipynb" href="${options.rawHref}">download .ipynb</a> · <a class="download-html" href="${options.exportHref}">download HTML</a>${options.compareHref ? html` · <a class="compare-link" href="${options.compareHref}">compare with previous run</a>` : ''}${(options.siblings ?? []).map((s) => html` · <a href="${s.href}">${s.name}</a>`)}</p>
</header>
${failed >= 0 && !hasBanner ? html`<div class="error-banner">An Exception was encountered at <a href="#cell-${failed}">cell ${failed}</a>.</div>` : ''}
<main>${nb.cells.map((cell, i) => cellHtml(cell, numbers[i]!, markdown))}</main>`;
  const hasMath = [...markdown.values()].some((h) => h.html.includes('class="katex'));
  return page(`${facts.run_id ?? name} · millrace`, body, {
    math: hasMath,
    frames: body.html.includes('<iframe class="html-output"') || body.html.includes('<iframe class="markdown-html"'),
    ...(options.standalone ? { standalone: options.standalone } : {}),
  });
}

/**
 * Notebooks larger than this are not rendered: parsing and escaping run on the server's one
 * event loop, and a 30 MB notebook of HTML outputs took 1.5 s to render (16 MB: ~0.7 s).
 */
export const NOTEBOOK_PAGE_LIMIT = 16 * 1024 * 1024;

const MB = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;

/** The page shown instead of a notebook over NOTEBOOK_PAGE_LIMIT. */
export function renderTooLargePage(path: string, size: number, rawHref: string, contentsHref: string): string {
  const name = path.split('/').pop() ?? path;
  return page(
    `${name} · millrace`,
    html`<nav><a href="/runs">← runs</a></nav>
<h1>${name}</h1>
<p class="too-large">This notebook is ${MB(size)}: too large to render here (the limit is ${MB(NOTEBOOK_PAGE_LIMIT)}) — <a href="${rawHref}">download the notebook</a>.</p>
<p class="links"><a href="${contentsHref}">contents API model</a></p>`,
  );
}
