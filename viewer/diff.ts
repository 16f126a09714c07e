/**
 * Line differences between two texts, for comparing two runs of a notebook: the longest
 * common subsequence of lines, as kept / removed / added lines.
 *
 * Hand-written, and why: no diff package is among the project's dependencies (and none may
 * be added this round); the table is O(lines × lines), so texts over DIFF_LINE_LIMIT lines
 * on either side are not compared line by line (the caller says they differ).
 */
export const DIFF_LINE_LIMIT = 2_000;

export type DiffLine = { op: ' ' | '-' | '+'; text: string };

/** The lines of `a` and `b` as a diff, or undefined if either is over DIFF_LINE_LIMIT lines. */
export function diffLines(a: string, b: string): DiffLine[] | undefined {
  const x = a === '' ? [] : a.split('\n');
  const y = b === '' ? [] : b.split('\n');
  if (x.length > DIFF_LINE_LIMIT || y.length > DIFF_LINE_LIMIT) return undefined;
  const m = y.length + 1;
  // lcs[i*m+j]: the LCS length of x[i..] and y[j..].
  const lcs = new Uint16Array((x.length + 1) * m);
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      lcs[i * m + j] = x[i] === y[j] ? lcs[(i + 1) * m + j + 1]! + 1 : Math.max(lcs[(i + 1) * m + j]!, lcs[i * m + j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i]! });
      i++;
      j++;
    } else if (lcs[(i + 1) * m + j]! >= lcs[i * m + j + 1]!) out.push({ op: '-', text: x[i++]! });
    else out.push({ op: '+', text: y[j++]! });
  }
  while (i < x.length) out.push({ op: '-', text: x[i++]! });
  while (j < y.length) out.push({ op: '+', text: y[j++]! });
  return out;
}
