/**
 * TeX in Markdown, typeset on the server by KaTeX's renderToString: the page gets HTML and
 * MathML, styled by KaTeX's style sheet and fonts (served by the viewer under /static/katex/),
 * and no script. Delimiters as in Jupyter: `$…$` and `\(…\)` inline, `$$…$$` and `\[…\]` as
 * display math, and `\begin{env}…\end{env}` on its own. KaTeX runs with `trust: false` (no
 * `\href`, `\url`, `\htmlClass`…), limited macro expansion and sizes, and `throwOnError:
 * false`: TeX it cannot read shows as its source, in red, with KaTeX's message as a title.
 *
 * Hand-written, and why: the markdown-it math plugins are not among the project's
 * dependencies (no new packages this round), and the rule is small: it finds the closing
 * delimiter with indexOf and remembers where one is missing, so a page's work stays linear
 * in its Markdown.
 */
import katex from 'katex';
import { escapeHtml } from './html.js';
import type MarkdownIt from 'markdown-it';
import type { StateInline } from 'markdown-it';

/**
 * Formulas one page typesets; later ones show as their TeX source. KaTeX takes ~20 µs for
 * even the smallest formula, so `$a$` repeated over a page's 1 MB of Markdown would hold the
 * server for seconds; 5,000 formulas is ~0.1 s, and more than any real notebook has.
 */
export const MATH_PAGE_LIMIT = 5_000;

/** The render env's count of formulas left for the page (MarkdownBudget sets it). */
export interface MathEnv {
  mathLeft?: number;
  [key: string | symbol]: unknown;
}

const OPTIONS = { throwOnError: false, trust: false, strict: 'ignore', maxSize: 50, maxExpand: 1000 } as const;

/**
 * KaTeX's output: HTML (laid out by KaTeX's style sheet) with MathML for screen readers on
 * the page; MathML alone in a sandboxed frame, which loads no style sheet (markdown.ts).
 */
export type MathOutput = 'htmlAndMathml' | 'mathml';

/** TeX → KaTeX's HTML (escaped by KaTeX). */
export function renderTex(tex: string, displayMode: boolean, output: MathOutput = 'htmlAndMathml'): string {
  return katex.renderToString(tex, { ...OPTIONS, output, displayMode });
}

// Opening delimiter → closing delimiter and whether it is display math.
const DELIMITERS: Array<[string, string, boolean]> = [
  ['$$', '$$', true],
  ['\\[', '\\]', true],
  ['\\(', '\\)', false],
  ['$', '$', false],
];

// Per inline block, the first position from which each closing delimiter is known to be
// absent: a later search from there on fails without scanning, so a block full of
// unclosed `\(` costs one scan, not one per opener.
const misses = new WeakMap<StateInline, Map<string, number>>();

function find(state: StateInline, close: string, from: number): number {
  let known = misses.get(state);
  if (known === undefined) misses.set(state, (known = new Map()));
  if (from >= (known.get(close) ?? Infinity)) return -1;
  let end = state.src.indexOf(close, from);
  // `\$` inside inline math is a dollar sign, not the end.
  while (close === '$' && end > 0 && state.src[end - 1] === '\\') end = state.src.indexOf('$', end + 1);
  if (end < 0) known.set(close, Math.min(from, known.get(close) ?? Infinity));
  return end;
}

function mathRule(state: StateInline, silent: boolean): boolean {
  const src = state.src;
  const start = state.pos;
  const c = src.charCodeAt(start);
  if (c !== 0x24 /* $ */ && c !== 0x5c /* \ */) return false;
  const env = /^\\begin\{([a-zA-Z]+\*?)\}/.exec(src.slice(start, start + 40));
  let open: string, close: string, display: boolean;
  if (env) [open, close, display] = ['', `\\end{${env[1]}}`, true];
  else {
    const d = DELIMITERS.find(([o]) => src.startsWith(o, start));
    if (!d) return false;
    [open, close, display] = d;
  }
  const from = start + open.length;
  const end = find(state, close, from + (env ? env[0].length : 0));
  if (end < 0 || end + close.length > state.posMax) return false;
  const tex = env ? src.slice(start, end + close.length) : src.slice(from, end);
  if (tex.trim() === '') return false;
  if (!silent) {
    const token = state.push(display ? 'math_display' : 'math_inline', 'math', 0);
    token.content = tex;
  }
  state.pos = end + close.length;
  return true;
}

/** The markdown-it plugin: math before escapes, so `\(` and `\[` are not read as escapes. */
export const mathPlugin = (md: InstanceType<typeof MarkdownIt>, output: MathOutput = 'htmlAndMathml'): void => {
  md.inline.ruler.before('escape', 'math', mathRule);
  const render = (tex: string, display: boolean, env: MathEnv | undefined) => {
    if (env && typeof env.mathLeft === 'number') {
      if (env.mathLeft <= 0) return `<code class="math-source">${escapeHtml(tex)}</code>`;
      env.mathLeft--;
    }
    return renderTex(tex, display, output);
  };
  md.renderer.rules['math_inline'] = (tokens, idx, _o, env) => render(tokens[idx]!.content, false, env);
  md.renderer.rules['math_display'] = (tokens, idx, _o, env) => render(tokens[idx]!.content, true, env);
};
