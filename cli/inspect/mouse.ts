/**
 * The mouse wheel. `millrace inspect` asks the terminal for SGR mouse reports (modes 1000
 * and 1006) while it runs, and gives the terminal back its own mouse (text selection) when
 * it exits or hands the terminal to $EDITOR or $PAGER. A wheel notch is an arrow press:
 * lists move their cursor, the detail pane scrolls; clicks are ignored. Most terminals
 * still select text with Shift held while the inspector has the mouse.
 */
import type { Writable } from 'node:stream';

const MOUSE_ON = '\u001b[?1000h\u001b[?1006h';
const MOUSE_OFF = '\u001b[?1006l\u001b[?1000l';

let reporting: Writable | null = null;

/** Mouse reports on (`stream` a terminal) or off; idempotent. */
export function setMouseReports(stream: Writable | null): void {
  if (reporting && reporting !== stream) reporting.write(MOUSE_OFF);
  if (stream && reporting !== stream) stream.write(MOUSE_ON);
  reporting = stream;
}

/** Runs `program` with the terminal's own mouse back (for $EDITOR, $PAGER), then reports on again. */
export function withoutMouseReports<T>(program: () => T): T {
  const stream = reporting;
  setMouseReports(null);
  try {
    return program();
  } finally {
    setMouseReports(stream);
  }
}

// An SGR report as Ink hands it over: `ESC [ < button ; column ; row M|m`, its ESC removed.
const SGR_REPORT = /^\u001b?\[<(\d+);\d+;\d+[Mm]$/;

/**
 * What a mouse report in `input` asks for: the wheel up or down, or nothing (a click, a
 * release); null when `input` is not a mouse report. Shift, Alt and Ctrl (bits 4, 8, 16) are
 * ignored; wheel buttons are 64 (up) and 65 (down).
 */
export function mouseWheel(input: string): 'up' | 'down' | 'none' | null {
  const report = SGR_REPORT.exec(input);
  if (!report) return null;
  const button = Number(report[1]) & ~28;
  return button === 64 ? 'up' : button === 65 ? 'down' : 'none';
}
