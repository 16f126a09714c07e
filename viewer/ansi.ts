/**
 * Terminal colours in tracebacks (IPython writes ANSI SGR sequences) → escaped HTML
 * spans with classes. Every other escape sequence is dropped; text is always escaped.
 */
import { escapeHtml } from './html.js';

const COLOURS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  underline?: boolean;
}

// The 256-colour palette's first 16 entries map onto the named classes; the rest are
// rare in tracebacks and shown in the default colour.
function extended(codes: number[], i: number): { colour?: string; used: number } {
  if (codes[i + 1] === 5) {
    const n = codes[i + 2] ?? -1;
    if (n >= 0 && n < 8) return { colour: COLOURS[n], used: 2 };
    if (n >= 8 && n < 16) return { colour: `bright-${COLOURS[n - 8]}`, used: 2 };
    return { used: 2 };
  }
  if (codes[i + 1] === 2) return { used: 4 };
  return { used: 0 };
}

function apply(style: Style, params: string): Style {
  const codes = params === '' ? [0] : params.split(';').map((p) => (p === '' ? 0 : Number(p)));
  let s = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) s = {};
    else if (c === 1) s.bold = true;
    else if (c === 4) s.underline = true;
    else if (c === 22) s.bold = false;
    else if (c === 24) s.underline = false;
    else if (c >= 30 && c <= 37) s.fg = COLOURS[c - 30];
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = COLOURS[c - 40];
    else if (c === 49) delete s.bg;
    else if (c >= 90 && c <= 97) s.fg = `bright-${COLOURS[c - 90]}`;
    else if (c >= 100 && c <= 107) s.bg = `bright-${COLOURS[c - 100]}`;
    else if (c === 38 || c === 48) {
      const { colour, used } = extended(codes, i);
      if (c === 38) s.fg = colour;
      else s.bg = colour;
      if (!colour) delete s[c === 38 ? 'fg' : 'bg'];
      i += used;
    }
  }
  return s;
}

function classes(s: Style): string {
  return [s.fg && `ansi-${s.fg}-fg`, s.bg && `ansi-${s.bg}-bg`, s.bold && 'ansi-bold', s.underline && 'ansi-underline'].filter(Boolean).join(' ');
}

// CSI sequences (ESC [ params final-byte), OSC (ESC ] ... BEL/ST), and lone ESC + one char.
const ESCAPE = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]?/g;

/** ANSI-coloured text → HTML (escaped text in spans). */
export function ansiToHtml(text: string): string {
  let out = '';
  let style: Style = {};
  let last = 0;
  const emit = (chunk: string) => {
    if (!chunk) return;
    const cls = classes(style);
    out += cls ? `<span class="${cls}">${escapeHtml(chunk)}</span>` : escapeHtml(chunk);
  };
  for (const m of text.matchAll(ESCAPE)) {
    emit(text.slice(last, m.index));
    last = m.index! + m[0].length;
    if (m[2] === 'm') style = apply(style, m[1] ?? '');
  }
  emit(text.slice(last));
  return out;
}

/** ANSI escape sequences removed. */
export function stripAnsi(text: string): string {
  return text.replace(ESCAPE, '');
}
