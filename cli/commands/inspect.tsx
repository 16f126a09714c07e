/** `millrace inspect [RUN]`: the Ink terminal inspector of run history (cli/inspect/). */
import { render } from 'ink';
import { constants } from 'node:os';
import { EXIT, UserError } from '../errors.js';
import { PAGER_ACTION, runActions, scheduleActions, VIEWER_ACTION } from '../inspect/actions.js';
import { InspectApp } from '../inspect/app.js';
import { RunNotFound, temporalSource } from '../inspect/data.js';
import { setMouseReports } from '../inspect/mouse.js';
import { checkRunArgument, resolveRunId } from '../run-ids.js';
import { READS_HISTORY, withSession } from '../session.js';
import { onSignal } from '../signals.js';

export interface InspectOptions {
  limit: number;
}

export async function inspectCommand(run: string | undefined, options: InspectOptions): Promise<number> {
  // Keys in, frames out: without a terminal on both ends there is nothing to drive.
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UserError('inspect needs a terminal; use `millrace runs` / `millrace show RUN --json`');
  }
  if (run !== undefined) checkRunArgument(run, 'inspect');
  return withSession({ needs: READS_HISTORY }, async (session, config) => {
    const runId = run === undefined ? undefined : await resolveRunId(session.client, run);
    const source = temporalSource(session.client);
    // A mistyped id is one line and exit 2, not an empty screen.
    if (runId !== undefined) {
      await source.loadRun(runId).catch((err: unknown) => {
        throw err instanceof RunNotFound ? new UserError(err.message) : err;
      });
    }
    const app = render(<InspectApp source={source} initialRun={runId} limit={options.limit} actions={[...runActions(session, config.storeRoot), PAGER_ACTION, VIEWER_ACTION]} scheduleActions={scheduleActions(session)} />, { exitOnCtrlC: true });
    // The terminal closed (SIGHUP), or a kill: the screen is left and the session closed,
    // stopping the embedded Temporal server if this command started one.
    // The wheel scrolls (cli/inspect/mouse.ts); the terminal's own mouse is given back below.
    setMouseReports(process.stdout);
    let signalled: NodeJS.Signals | undefined;
    const stop = onSignal(['SIGHUP', 'SIGTERM', 'SIGINT'], (signal) => {
      signalled = signal;
      app.unmount();
    });
    try {
      await app.waitUntilExit();
    } finally {
      setMouseReports(null);
      stop();
    }
    return signalled ? 128 + (constants.signals[signalled] ?? 0) : EXIT.ok;
  });
}
