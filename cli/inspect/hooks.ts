/** React hooks of the inspector: polling a loader, and the terminal's size. */
import { useInput, useStdin, useStdout, type Key } from 'ink';
import { spawnSync } from 'node:child_process';
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import { mouseWheel, withoutMouseReports } from './mouse.js';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** Loads again now (and goes on polling as before). */
  reload(): void;
}

/**
 * Calls `load` now, and again `every(data, error)` milliseconds after each load finishes
 * (null: stop), until the component unmounts or `key` changes. A failed load is shown
 * and retried on the same beat, so a Temporal hiccup does not end the inspector.
 * `initial`: data already read, shown in the first frame and counted as the first load.
 */
export function usePolling<T>(load: () => Promise<T>, every: (data: T | undefined, error: Error | undefined) => number | null, key: string, initial?: () => T | undefined): Polled<T> {
  const [state, setState] = useState<{ key: string; data?: T; error?: Error }>(() => ({ key, data: initial?.() }));
  const loadedFirst = useRef(state.data !== undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  const everyRef = useRef(every);
  loadRef.current = load;
  everyRef.current = every;

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const run = async () => {
      let data: T | undefined;
      let error: Error | undefined;
      try {
        data = await loadRef.current();
        if (stopped) return;
        setState({ key, data });
      } catch (err) {
        if (stopped) return;
        error = err as Error;
        setState((s) => ({ key, data: s.key === key ? s.data : undefined, error }));
      }
      const wait = everyRef.current(data, error);
      if (wait !== null && !stopped) timer = setTimeout(() => void run(), wait);
    };
    if (loadedFirst.current) {
      loadedFirst.current = false;
      const wait = everyRef.current(state.data, undefined);
      if (wait !== null) timer = setTimeout(() => void run(), wait);
    } else void run();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [key, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  // Data of an earlier key is never shown as this key's.
  return state.key === key ? { data: state.data, error: state.error, reload } : { data: undefined, error: undefined, reload };
}

/** Rows and columns of the terminal, following resizes (24 x 80 when unknown). */
export function useTerminalSize(): { rows: number; columns: number } {
  const { stdout } = useStdout();
  const read = () => ({ rows: stdout.rows || 24, columns: stdout.columns || 80 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

/**
 * useInput with the handler of the latest render. Ink registers input handlers in an
 * effect, which runs after the frame is on screen: a key pressed right after a frame
 * appears would otherwise reach the previous render's handler, with its stale rows.
 */
export function useKeys(handler: KeyHandler): void {
  const router = useContext(KeyRouterContext);
  const ref = useRef(handler);
  ref.current = handler;
  // Under the app's router (app.tsx) the screen's handler is called from there, after `:`.
  if (router) router.screen.current = handler;
  const stable = useCallback((input: string, key: Key) => {
    for (const [one, oneKey] of keypresses(input, key)) ref.current(one, oneKey);
  }, []);
  useInput(stable, { isActive: router === null });
}

export type KeyHandler = (input: string, key: Key) => void;

/**
 * One input handler for the whole app, so that of the presses in one input event those
 * after `:` go to the command line and those after Enter back to the screen: the screen
 * on top registers its handler here; `typing` is set while it reads a line (its `/`
 * search), when `:` is a character like any other.
 */
export interface KeyRouter {
  screen: { current: KeyHandler | null };
  typing: { current: boolean };
}

export const KeyRouterContext = createContext<KeyRouter | null>(null);

/** A line being typed in a screen (its `/` search): told to the router, so `:` is typed too. */
export function useTyping(): (on: boolean) => void {
  const router = useContext(KeyRouterContext);
  return useCallback((on: boolean) => {
    if (router) router.typing.current = on;
  }, [router]);
}

const NO_KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false,
  super: false, hyper: false, capsLock: false, numLock: false,
};

/**
 * The presses in one input event. Ink splits escape sequences (arrows, Esc) into events of
 * their own but hands a run of plain characters typed faster than it reads (a held key,
 * keys sent by tmux) over as one string: each character is a press of its own; and Esc
 * read together with the next key, which Ink parses as Alt and that key, is Esc and then
 * that key. A mouse wheel report (mouse.ts) is an arrow press; other mouse reports are no
 * press at all.
 */
export function keypresses(input: string, key: Key): Array<[string, Key]> {
  const wheel = mouseWheel(input);
  if (wheel === 'up' || wheel === 'down') return [['', { ...NO_KEY, upArrow: wheel === 'up', downArrow: wheel === 'down' }]];
  if (wheel === 'none') return [];
  const chars = [...input];
  // No screen binds Alt: Alt and a key is Esc typed right before that key.
  if (key.meta && !key.ctrl && !key.escape && chars.length === 1 && input >= ' ') return [['', { ...NO_KEY, escape: true, meta: true }], pressOf(input)];
  if (key.ctrl || key.meta) return [[input, key]];
  // A lone Enter that came in after other keys of the same read arrives as "\r", unflagged.
  if (chars.length === 1 && /[\r\n\t\x7f\b]/.test(input) && !(key.return || key.tab || key.backspace || key.delete)) return [pressOf(input)];
  if (chars.length <= 1) return [[input, key]];
  return chars.map(pressOf);
}

/** One character as Ink reports it when pressed alone. */
function pressOf(c: string): [string, Key] {
  // Enter, Tab and Backspace as keys with no input, other control characters as ctrl and their letter.
  if (/[\r\n\t\x7f\b]/.test(c)) return ['', { ...NO_KEY, return: c === '\r' || c === '\n', tab: c === '\t', backspace: c === '\x7f' || c === '\b' }];
  const code = c.charCodeAt(0);
  if (code >= 1 && code <= 26) return [String.fromCharCode(code + 96), { ...NO_KEY, ctrl: true }];
  return [c, { ...NO_KEY, shift: /[A-Z]/.test(c) }];
}

/**
 * The move a key asks for in a list or a text shown `page` lines at a time, whose last
 * position is `last`: up/k, down/j, Page Up/Down, g/Home, G/End. Undefined for other keys.
 */
export function movement(input: string, key: Key, page: number, last: number): ((at: number) => number) | undefined {
  if (key.upArrow || input === 'k') return (at) => at - 1;
  if (key.downArrow || input === 'j') return (at) => at + 1;
  if (key.pageUp) return (at) => at - page;
  if (key.pageDown) return (at) => at + page;
  if (input === 'g' || key.home) return () => 0;
  if (input === 'G' || key.end) return () => last;
  return undefined;
}

/**
 * Runs a program ($EDITOR, $PAGER) on the terminal in place of the inspector: the keys go
 * to it (raw mode off) until it exits, then the screen is cleared for Ink's next frame.
 * Through the shell, so `EDITOR="code --wait"` works; the file is its last argument.
 */
export function useTerminalProgram(): (program: string, file: string) => number | null {
  const { setRawMode, isRawModeSupported } = useStdin();
  const { stdout } = useStdout();
  return useCallback(
    (program: string, file: string) => {
      if (isRawModeSupported) setRawMode(false);
      try {
        return withoutMouseReports(() => spawnSync('sh', ['-c', `${program} "$1"`, program, file], { stdio: 'inherit' }).status);
      } finally {
        if (isRawModeSupported) setRawMode(true);
        if (stdout.isTTY) stdout.write('\u001b[2J\u001b[H');
      }
    },
    [setRawMode, isRawModeSupported, stdout],
  );
}

/** The editor people set for programs that open one: $VISUAL, else $EDITOR, else vi. */
export function editorName(): string {
  return process.env['VISUAL'] || process.env['EDITOR'] || 'vi';
}
