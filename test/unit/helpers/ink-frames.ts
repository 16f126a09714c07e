/** Reading the inspector's frames in ink-testing-library: waiting for one, at a terminal size. */
import type { render } from 'ink-testing-library';

// eslint-disable-next-line no-control-regex
export const SGR = /\u001b\[[0-9;]*m/g;
export const plain = (frame: string | undefined) => (frame ?? '').replace(SGR, '');
export type Rendered = ReturnType<typeof render>;

/**
 * Whether Ink reads the app's stdin yet. It starts to from an effect that runs after the
 * first frame is drawn; ink-testing-library's stdin drops what is written before that (a
 * terminal keeps it), so a test that types as soon as the first frame is there loses the
 * keys now and then on a loaded machine.
 */
export const listening = (app: Rendered) => app.stdin.listenerCount('readable') > 0;

/**
 * The first frame (colours removed) that satisfies `ok`, once Ink reads stdin (so the test
 * may type next), within 30 s: a bound for a loaded CI machine, where a frame has been seen
 * to take over 3 s; a pass never waits it.
 */
export async function frameWhere(app: Rendered, ok: (t: string) => boolean): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const t = plain(app.lastFrame());
    if (ok(t) && listening(app)) return t;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never a frame like that; last:\n${plain(app.lastFrame())}`);
}

/** The app on a terminal of `columns` x `rows`, as after a resize. */
export function sized(app: Rendered, columns: number, rows = 24): Rendered {
  Object.defineProperty(app.stdout, 'columns', { get: () => columns });
  Object.defineProperty(app.stdout, 'rows', { get: () => rows });
  app.stdout.emit('resize');
  return app;
}

/** The selected row of a list. */
export const selected = (t: string) => t.split('\n').find((l) => l.startsWith('›')) ?? '';
