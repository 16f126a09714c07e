/**
 * Stream outputs as Jupyter front ends show them. JupyterLab's output area appends a stream
 * output to the previous one when both go to the same stream, and then applies terminal
 * overwriting: `\b` deletes the character before it (at the end of a line), `\r` returns to
 * the start of the line so that what follows overwrites it (`\r\n` is a plain newline). A tqdm bar, written as
 * hundreds of `\r`-separated updates, therefore shows as its final line.
 *
 * Hand-written, and why: no maintained package does this; JupyterLab's own version
 * (`removeOverwrittenChars` in @jupyterlab/outputarea) is private and rescans the text for
 * every `\r`, quadratic in the output's length. This is one pass with the same results.
 */
import type { Output } from '../notebook/nbformat.js';

type Stream = Extract<Output, { output_type: 'stream' }>;

const textOf = (v: unknown) => (typeof v === 'string' ? v : Array.isArray(v) ? v.join('') : '');

/** `\r` and `\b` applied, line by line. */
export function collapseOverwrites(text: string): string {
  if (!/[\r\b]/.test(text)) return text;
  const lines: string[] = [];
  let line: string[] = [];
  let cursor = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      lines.push(line.join(''));
      line = [];
      cursor = 0;
    } else if (c === '\r') {
      cursor = 0;
    } else if (c === '\b') {
      // At the end of the line the character goes, as in JupyterLab; within a line (after a
      // `\r`) the cursor moves back, as in a terminal, so each `\b` costs O(1).
      if (cursor > 0 && cursor === line.length) line.pop();
      if (cursor > 0) cursor--;
    } else {
      line[cursor++] = c;
    }
  }
  lines.push(line.join(''));
  return lines.join('\n');
}

/** Consecutive outputs to the same stream joined, then overwriting applied to each. */
export function mergeStreams(outputs: Output[]): Output[] {
  const merged: Output[] = [];
  for (const output of outputs) {
    const last = merged[merged.length - 1];
    if (output.output_type === 'stream' && last?.output_type === 'stream' && last.name === output.name) {
      merged[merged.length - 1] = { ...last, text: textOf(last.text) + textOf(output.text) } as Stream;
    } else {
      merged.push(output.output_type === 'stream' ? ({ ...output, text: textOf(output.text) } as Stream) : output);
    }
  }
  return merged.map((o) => (o.output_type === 'stream' ? ({ ...o, text: collapseOverwrites(textOf(o.text)) } as Stream) : o));
}
