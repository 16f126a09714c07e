/**
 * Text as a terminal lays it out: display width (wide East Asian characters and emoji take
 * two columns, combining marks none) and lines wrapped to a width with their ANSI colours
 * kept. The run view wraps a cell's lines itself, so every line it hands Ink takes exactly
 * one row and Ink's layout never overflows its box. Pure.
 */

// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/y;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Columns one grapheme takes. */
function graphemeWidth(g: string): number {
  const cp = g.codePointAt(0)!;
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (/^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufeff]+$/u.test(g)) return 0;
  // Emoji: the pictographs past U+1F000, or any with the emoji presentation selector.
  const emoji = /\p{Extended_Pictographic}/u.test(g) && (cp >= 0x1f000 || g.includes('\ufe0f'));
  return isWide(cp) || emoji ? 2 : 1;
}

/** The text's pieces: SGR sequences (no width) and graphemes. */
function pieces(text: string): Array<{ sgr: true; text: string } | { sgr: false; text: string; width: number }> {
  const out: Array<{ sgr: true; text: string } | { sgr: false; text: string; width: number }> = [];
  let plain = '';
  const flush = () => {
    for (const { segment } of segmenter.segment(plain)) out.push({ sgr: false, text: segment, width: graphemeWidth(segment) });
    plain = '';
  };
  for (let i = 0; i < text.length; ) {
    SGR.lastIndex = i;
    const m = SGR.exec(text);
    if (m) {
      flush();
      out.push({ sgr: true, text: m[0] });
      i += m[0].length;
    } else {
      plain += text[i];
      i++;
    }
  }
  flush();
  return out;
}

/** Columns the text takes on a terminal (SGR colour codes take none). */
export function displayWidth(text: string): number {
  return pieces(text).reduce((w, p) => w + (p.sgr ? 0 : p.width), 0);
}

/**
 * The line in rows of at most `width` columns, cut where the width runs out (a code or
 * traceback line has no words to break at). Colours carry over: a row that ends inside a
 * colour resets it, and the next row opens it again.
 */
export function wrapToWidth(line: string, width: number): string[] {
  if (width < 2) width = 2;
  const rows: string[] = [];
  let row = '';
  let used = 0;
  let open = '';
  for (const p of pieces(line)) {
    if (p.sgr) {
      row += p.text;
      // A reset ends every colour; any other SGR adds to those open.
      open = /^\u001b\[0?m$/.test(p.text) ? '' : open + p.text;
      continue;
    }
    if (used + p.width > width) {
      rows.push(open ? `${row}\u001b[0m` : row);
      row = open;
      used = 0;
    }
    row += p.text;
    used += p.width;
  }
  rows.push(row);
  return rows;
}
