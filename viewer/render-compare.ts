/**
 * Two runs of one notebook side by side, cell by cell: which cells changed their source or
 * their outputs, with line differences of each (diff.ts). Cells are paired by their nbformat
 * id (by position when a notebook has none), after papermill's banner and anchor cells are
 * dropped, so "cell N" is the number `millrace show` uses for the newer run. Outputs are
 * compared as text: streams as shown (merged, `\r` applied), colours stripped, rich outputs
 * by their text/plain, images by a digest of their bytes.
 */
import { createHash } from 'node:crypto';
import { sourceText, type Cell, type Notebook, type Output } from '../notebook/nbformat.js';
import { removeErrorMarkers } from '../notebook/record.js';
import { runFacts } from '../notebook/scrapbook.js';
import { stripAnsi } from './ansi.js';
import { diffLines, type DiffLine } from './diff.js';
import { hrefFor, html, type SafeHtml } from './html.js';
import { page } from './page.js';
import { mergeStreams } from './streams.js';

export interface CompareSide {
  runId: string;
  notebook: Notebook;
}

const textOf = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) ? v.join('') : '');

function outputText(o: Output): string {
  switch (o.output_type) {
    case 'stream':
      return `[${o.name}]\n${stripAnsi(textOf(o.text)).replace(/\n$/, '')}`;
    case 'error':
      return `[error] ${o.ename}: ${stripAnsi(o.evalue)}`;
    case 'execute_result':
    case 'display_data': {
      const data = (o.data ?? {}) as Record<string, unknown>;
      const image = ['image/png', 'image/jpeg', 'image/gif', 'image/svg+xml'].find((m) => m in data);
      if (image) return `[${image} ${createHash('sha256').update(textOf(data[image])).digest('hex').slice(0, 12)}]`;
      if ('text/plain' in data) return stripAnsi(textOf(data['text/plain']));
      return `[${Object.keys(data).join(', ')}]`;
    }
    default:
      return '';
  }
}

export function cellOutputsText(cell: Cell): string {
  return cell.cell_type === 'code' ? mergeStreams(cell.outputs).map(outputText).join('\n') : '';
}

type Pair = { a?: Cell; b?: Cell; number?: number };

/** Cells paired by id (or position): `a` from the earlier run, `b` from the later. */
function pairCells(a: Notebook, b: Notebook): Pair[] {
  const keys = (nb: Notebook) => nb.cells.map((c, i) => `${c.id ?? `#${i}`}`);
  const ka = keys(a);
  const kb = keys(b);
  const ops = diffLines(ka.join('\n'), kb.join('\n')) ?? [...ka.map((text): DiffLine => ({ op: '-', text })), ...kb.map((text): DiffLine => ({ op: '+', text }))];
  const pairs: Pair[] = [];
  let i = 0;
  let j = 0;
  for (const op of ops) {
    if (op.op === ' ') pairs.push({ a: a.cells[i++], b: b.cells[j], number: j++ });
    else if (op.op === '-') pairs.push({ a: a.cells[i++] });
    else pairs.push({ b: b.cells[j], number: j++ });
  }
  return pairs;
}

function diffBlock(label: string, before: string, after: string): SafeHtml {
  if (before === after) return html``;
  const lines = diffLines(before, after);
  if (!lines) return html`<div class="diff-part"><div class="muted">${label}: changed (too long to compare line by line)</div></div>`;
  return html`<div class="diff-part"><div class="muted">${label}</div><pre class="diff">${lines.map(
    (l) => html`<span class="${l.op === '+' ? 'ins' : l.op === '-' ? 'del' : 'same'}">${l.op} ${l.text}</span>`,
  )}</pre></div>`;
}

export function renderComparePage(earlier: CompareSide, later: CompareSide): string {
  const a = removeErrorMarkers(earlier.notebook);
  const b = removeErrorMarkers(later.notebook);
  const pairs = pairCells(a, b);
  let changed = 0;
  const rows = pairs.map((p) => {
    const srcA = p.a ? sourceText(p.a.source) : '';
    const srcB = p.b ? sourceText(p.b.source) : '';
    const outA = p.a ? cellOutputsText(p.a) : '';
    const outB = p.b ? cellOutputsText(p.b) : '';
    const kind = !p.a ? 'added' : !p.b ? 'removed' : srcA !== srcB ? (outA !== outB ? 'source and outputs changed' : 'source changed') : outA !== outB ? 'outputs changed' : 'same';
    if (kind === 'same') return html``;
    changed++;
    const title = p.number === undefined ? 'cell (only in the earlier run)' : `cell ${p.number}`;
    return html`<section class="cell compare ${kind === 'added' || kind === 'removed' ? kind : 'changed'}"><div class="cell-head"><strong>${title}</strong><span class="badge">${kind}</span></div>
${diffBlock('source', srcA, srcB)}${diffBlock('outputs', outA, outB)}</section>`;
  });
  const facts = (s: CompareSide) => runFacts(s.notebook);
  const side = (s: CompareSide) => html`<a href="${hrefFor('/runs/', s.runId)}">${s.runId}</a> <span class="badge status-${facts(s).status}">${facts(s).status}</span>`;
  const params = (s: CompareSide) => JSON.stringify(facts(s).parameters);
  const body = html`<nav><a href="/runs">← runs</a></nav>
<h1>compare runs</h1>
<dl class="facts"><dt>earlier</dt><dd>${side(earlier)}</dd><dt>later</dt><dd>${side(later)}</dd>
${params(earlier) !== params(later) ? html`<dt>parameters</dt><dd><code>${params(earlier)}</code> → <code>${params(later)}</code></dd>` : ''}</dl>
<p class="compare-summary">${changed === 0 ? 'No cell differs: same sources and outputs.' : `${changed} of ${pairs.length} cells differ; the others are the same.`}</p>
<main>${rows}</main>`;
  return page(`compare ${later.runId} · millrace`, body);
}
