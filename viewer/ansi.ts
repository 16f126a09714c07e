/**
 * Terminal colours (IPython's tracebacks, coloured logs) → escaped HTML spans, by anser (the
 * converter nteract uses), with classes named as Jupyter's front ends name them
 * (`ansi-red-fg`, `ansi-bright-green-bg`, `ansi-bold`). 256-colour and 24-bit colours become
 * inline `color:` styles. Text is escaped here, never by anser.
 *
 * Hand-written, and why: anser reads only SGR sequences, so OSC sequences (window titles,
 * hyperlinks: `ESC ] ... BEL`) and the other CSI sequences it leaves in the text are removed
 * first by one regex; and anser carries a 24-bit colour over a reset, so a truecolour value
 * is used only while anser reports the colour as truecolour.
 */
import Anser from 'anser';
import { escapeHtml } from './html.js';

// OSC (ESC ] ... BEL or ST), and CSI sequences other than SGR (`m`), which anser keeps.
// eslint-disable-next-line no-control-regex
const NON_SGR = /\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-9;?]*[@-ln-~]/g;

const NAMES = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** xterm's 256-colour palette entry `n` as CSS, or a class for the first 16. */
function palette(n: number): { cls?: string; rgb?: string } {
  if (n < 8) return { cls: `ansi-${NAMES[n]}` };
  if (n < 16) return { cls: `ansi-bright-${NAMES[n - 8]}` };
  if (n < 232) {
    const v = n - 16;
    const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return { rgb: `${level(Math.floor(v / 36))},${level(Math.floor(v / 6) % 6)},${level(v % 6)}` };
  }
  if (n < 256) {
    const g = 8 + (n - 232) * 10;
    return { rgb: `${g},${g},${g}` };
  }
  return {};
}

function colour(name: string | null, truecolor: string | null, kind: 'fg' | 'bg', classes: string[], styles: string[]): void {
  if (!name) return;
  const prop = kind === 'fg' ? 'color' : 'background-color';
  if (name === 'ansi-truecolor') {
    if (truecolor && /^\d{1,3}, \d{1,3}, \d{1,3}$/.test(truecolor)) styles.push(`${prop}:rgb(${truecolor.replace(/ /g, '')})`);
    return;
  }
  const p = /^ansi-palette-(\d+)$/.exec(name);
  const resolved = p ? palette(Number(p[1])) : { cls: name };
  if (resolved.cls) classes.push(`${resolved.cls}-${kind}`);
  if (resolved.rgb) styles.push(`${prop}:rgb(${resolved.rgb})`);
}

/** ANSI-coloured text → HTML (escaped text in spans). */
export function ansiToHtml(text: string): string {
  let out = '';
  for (const part of Anser.ansiToJson(text.replace(NON_SGR, ''), { use_classes: true, remove_empty: true })) {
    if (!part.content) continue;
    const classes: string[] = [];
    const styles: string[] = [];
    colour(part.fg, part.fg_truecolor, 'fg', classes, styles);
    colour(part.bg, part.bg_truecolor, 'bg', classes, styles);
    for (const d of part.decorations) if (d === 'bold' || d === 'underline' || d === 'italic' || d === 'dim') classes.push(`ansi-${d}`);
    const body = escapeHtml(part.content);
    out +=
      classes.length || styles.length
        ? `<span${classes.length ? ` class="${classes.join(' ')}"` : ''}${styles.length ? ` style="${styles.join(';')}"` : ''}>${body}</span>`
        : body;
  }
  return out;
}

/** ANSI escape sequences removed. */
export function stripAnsi(text: string): string {
  return Anser.ansiToText(text.replace(NON_SGR, ''));
}
