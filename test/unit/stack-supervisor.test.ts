/**
 * `millrace dev`'s supervision of its servers (worker/stack-supervisor.ts) as pure logic:
 * a stand-in stack whose servers exit when told to. The real servers, killed for real,
 * are in test/e2e/dev.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { ExitStatus } from '../../worker/process.js';
import type { Stack } from '../../worker/stack.js';
import { superviseStack } from '../../worker/stack-supervisor.js';

interface FakeServer {
  pid: number;
  logPath: string;
  exited: Promise<ExitStatus>;
  exit(status: ExitStatus): void;
}

let nextPid = 100;
function fakeServer(name: string): FakeServer {
  let exit!: (status: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((resolve) => (exit = resolve));
  return { pid: nextPid++, logPath: `/state/logs/${name}.log`, exited, exit };
}

function fakeStack(options: { failRestarts?: number } = {}) {
  let failures = options.failRestarts ?? 0;
  const restarts: string[] = [];
  const stack = {
    temporal: fakeServer('temporal'),
    jupyterServer: fakeServer('jupyter'),
    async restart(which: 'temporal' | 'jupyter') {
      restarts.push(which);
      if (failures-- > 0) throw new Error('port 4000 is taken\nmore detail');
      if (which === 'temporal') stack.temporal = fakeServer('temporal');
      else stack.jupyterServer = fakeServer('jupyter');
    },
  };
  return { stack, restarts, asStack: stack as unknown as Stack };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 1));
  expect(condition()).toBe(true);
}

describe('superviseStack', () => {
  it('restarts a server that exited, says so in one line each, and reports the new pid', async () => {
    const { stack, restarts, asStack } = fakeStack();
    const lines: string[] = [];
    let rewritten = 0;
    const supervision = superviseStack(asStack, { log: (l) => lines.push(l), onRestart: () => rewritten++, firstDelayMs: 1 });
    const killed = stack.jupyterServer;
    killed.exit({ code: null, signal: 'SIGKILL' });
    await until(() => rewritten === 1);
    expect(restarts).toEqual(['jupyter']);
    expect(lines).toEqual([
      `Jupyter Server (pid ${killed.pid}) exited (killed by SIGKILL); restarting it in 0.001 s`,
      `Jupyter Server is back (pid ${stack.jupyterServer.pid})`,
    ]);
    // The new server is watched too.
    const temporal = stack.temporal;
    temporal.exit({ code: 1, signal: null });
    await until(() => rewritten === 2);
    expect(lines.slice(2)).toEqual([
      `the Temporal server (pid ${temporal.pid}) exited (exit code 1); restarting it in 0.001 s`,
      `the Temporal server is back (pid ${stack.temporal.pid})`,
    ]);
    supervision.stop();
  });

  it('doubles the delay with each recent restart, retries a failed restart, and gives up after maxRestarts within the window', async () => {
    const { stack, restarts, asStack } = fakeStack({ failRestarts: 1 });
    const lines: string[] = [];
    const supervision = superviseStack(asStack, { log: (l) => lines.push(l), firstDelayMs: 1, maxRestarts: 3, windowMs: 60_000 });
    let gaveUp: string | undefined;
    void supervision.gaveUp.then((reason) => (gaveUp = reason));
    stack.temporal.exit({ code: null, signal: 'SIGKILL' });
    // The first restart fails (counted), the second works.
    await until(() => lines.length === 3);
    expect(lines[0]).toMatch(/^the Temporal server \(pid \d+\) exited \(killed by SIGKILL\); restarting it in 0\.001 s$/);
    expect(lines[1]).toBe('the Temporal server did not restart (port 4000 is taken); restarting it in 0.002 s');
    expect(lines[2]).toMatch(/^the Temporal server is back \(pid \d+\)$/);
    stack.temporal.exit({ code: 2, signal: null });
    await until(() => lines.length === 5);
    expect(lines[3]).toMatch(/exited \(exit code 2\); restarting it in 0\.004 s$/);
    const last = stack.temporal;
    last.exit({ code: 2, signal: null });
    await until(() => gaveUp !== undefined);
    expect(gaveUp).toBe(`the Temporal server (pid ${last.pid}) exited (exit code 2) after 3 restarts within 60 s; giving up (its log: /state/logs/temporal.log)`);
    expect(restarts).toEqual(['temporal', 'temporal', 'temporal']);
    supervision.stop();
  });

  it('leaves servers alone once stopped: exits while the stack stops are expected', async () => {
    const { stack, restarts, asStack } = fakeStack();
    const lines: string[] = [];
    const supervision = superviseStack(asStack, { log: (l) => lines.push(l), firstDelayMs: 1 });
    supervision.stop();
    stack.temporal.exit({ code: 0, signal: null });
    stack.jupyterServer.exit({ code: null, signal: 'SIGTERM' });
    await new Promise((r) => setTimeout(r, 20));
    expect(lines).toEqual([]);
    expect(restarts).toEqual([]);
  });
});
