// Python str semantics that papermill/nbformat rely on and JavaScript spells differently.
// JS `\s`, `String.prototype.trim` and line splitting use other character sets than
// Python's str.isspace() / str.splitlines(), and the notebook bytes depend on them.

/** Characters for which Python's str.isspace() is true (Unicode 14, CPython 3.11). */
export const PY_WHITESPACE =
  '\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680' +
  '\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a' +
  '\u2028\u2029\u202f\u205f\u3000';

/** The same set as a regex character-class body (for building patterns). */
export const PY_WS_CLASS =
  '\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a' +
  '\\u2028\\u2029\\u202f\\u205f\\u3000';

const WS_SET = new Set(PY_WHITESPACE);

export function isPySpace(ch: string): boolean {
  return WS_SET.has(ch);
}

/** Python str.strip() with no argument. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && WS_SET.has(s[start]!)) start++;
  while (end > start && WS_SET.has(s[end - 1]!)) end--;
  return s.slice(start, end);
}

// Python's line boundaries: \n \r \r\n \v \f \x1c \x1d \x1e \x85 \u2028 \u2029.
const LINE_BREAK = /\r\n|[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/g;

/** Python str.splitlines(keepends). "" gives [], a trailing break adds no empty line. */
export function pySplitLines(s: string, keepends = false): string[] {
  const lines: string[] = [];
  let last = 0;
  LINE_BREAK.lastIndex = 0;
  for (let m = LINE_BREAK.exec(s); m !== null; m = LINE_BREAK.exec(s)) {
    const end = m.index + m[0].length;
    lines.push(keepends ? s.slice(last, end) : s.slice(last, m.index));
    last = end;
  }
  if (last < s.length) lines.push(s.slice(last));
  return lines;
}

/** True when `s` contains a Python line boundary. */
export function hasPyLineBreak(s: string): boolean {
  return /[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/.test(s);
}

/**
 * Compare two strings by Unicode code point, as Python orders str (sort_keys=True).
 * JS `<` compares UTF-16 code units, which misorders astral characters against
 * U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
}

/** Iterate code points, yielding lone surrogates as themselves (like Python str). */
export function* codePoints(s: string): Generator<number> {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        yield (c - 0xd800) * 0x400 + (d - 0xdc00) + 0x10000;
        i++;
        continue;
      }
    }
    yield c;
  }
}

const DECIMAL = /^\p{Nd}$/u;

/**
 * Value 0-9 of a Unicode decimal digit (category Nd), or -1. Python int()/float()
 * accept any Nd digit. Unicode allocates Nd characters in aligned runs of ten
 * (0..9), so the value is the distance from the start of the run, mod 10.
 */
export function decimalValue(cp: number): number {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (cp < 0x80 || !DECIMAL.test(String.fromCodePoint(cp))) return -1;
  let start = cp;
  while (start > 0 && DECIMAL.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

/** Python keywords: not usable as parameter names. */
export const PY_KEYWORDS: ReadonlySet<string> = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class',
  'continue', 'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global',
  'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise',
  'return', 'try', 'while', 'with', 'yield',
]);

/**
 * Python str.isidentifier(): XID_Start or "_", then XID_Continue. Unicode 15.1
 * (newer than CPython 3.11's 14.0) added ZWJ/ZWNJ to XID_Continue; Python refuses them.
 */
export function isPyIdentifier(name: string): boolean {
  return /^[\p{XID_Start}_]\p{XID_Continue}*$/u.test(name) && !/[\u200c\u200d]/.test(name);
}
