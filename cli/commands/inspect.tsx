/** `millrace inspect [RUN]`: the Ink terminal inspector of run history (cli/inspect/). */
import { render } from 'ink';
import { constants } from 'node:os';
import { EXIT, UserError } from '../errors.js';
import { PAGER_ACTION, runActions, scheduleActions, VIEWER_ACTION } from '../inspect/actions.js';
import { InspectApp, type InspectAppProps } from '../inspect/app.js';
import { RunNotFound, temporalSource, type InspectSource } from '../inspect/data.js';
import { devSource, firstListThroughDev, type FirstList } from '../inspect/dev-source.js';
import { setMouseReports } from '../inspect/mouse.js';
import { checkRunArgument, resolveRunId } from '../run-ids.js';
import { READS_HISTORY, withSession, type Session } from '../session.js';
import { onSignal } from '../signals.js';

export interface InspectOptions {
  limit: number;
}

/**
 * `early`: the first list asked of a `millrace dev` here before this module (and Ink) loaded
 * (cli/main.ts); asked now when not given.
 */
export async function inspectCommand(run: string | undefined, options: InspectOptions, early?: Promise<FirstList | undefined>): Promise<number> {
  // Keys in, frames out: without a terminal on both ends there is nothing to drive.
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UserError('inspect needs a terminal; use `millrace runs` / `millrace show RUN --json`');
  }
  if (run !== undefined) checkRunArgument(run, 'inspect');
  const first = run === undefined ? await (early ?? firstListThroughDev(options.limit)) : undefined;
  if (first) return inspectFromDev(first, options);
  return withSession({ needs: READS_HISTORY }, async (session, config) => {
    const runId = run === undefined ? undefined : await resolveRunId(session.client, run);
    const source = temporalSource(session.client);
    // A mistyped id is one line and exit 2, not an empty screen.
    if (runId !== undefined) {
      await source.loadRun(runId).catch((err: unknown) => {
        throw err instanceof RunNotFound ? new UserError(err.message) : err;
      });
    }
    return runApp({ source, initialRun: runId, limit: options.limit, ...sessionActions(session, config.storeRoot) });
  });
}

function sessionActions(session: Session, storeRoot: string): Pick<InspectAppProps, 'actions' | 'scheduleActions'> {
  return { actions: [...runActions(session, storeRoot), PAGER_ACTION, VIEWER_ACTION], scheduleActions: scheduleActions(session) };
}

/**
 * With a `millrace dev` here: the list comes from dev, and this process connects to
 * Temporal (loading the client) only when a screen or an action first needs it; the
 * actions that need the session appear then.
 */
async function inspectFromDev(first: FirstList, options: InspectOptions): Promise<number> {
  let opened: Promise<InspectSource> | undefined;
  let leave!: () => void;
  const left = new Promise<void>((resolve) => (leave = resolve));
  let exited = false;
  let sessionEnded: Promise<unknown> = Promise.resolve();
  const props: InspectAppProps = { source: devSource(first, () => (opened ??= openSession())), limit: options.limit, actions: [PAGER_ACTION, VIEWER_ACTION] };
  let rerender: (props: InspectAppProps) => void = () => undefined;
  const openSession = () =>
    new Promise<InspectSource>((resolve, reject) => {
      // json: no progress lines over the screen, should dev have gone and a stack start here.
      sessionEnded = withSession({ needs: READS_HISTORY, json: true, config: first.config }, async (session, config) => {
        Object.assign(props, sessionActions(session, config.storeRoot));
        if (!exited) rerender(props);
        resolve(temporalSource(session.client));
        await left;
      }).catch((err: unknown) => {
        opened = undefined;
        reject(err);
      });
    });
  try {
    return await runApp(props, (app) => (rerender = (p) => app.rerender(<InspectApp {...p} />)));
  } finally {
    exited = true;
    leave();
    await sessionEnded;
  }
}

async function runApp(props: InspectAppProps, rendered?: (app: ReturnType<typeof render>) => void): Promise<number> {
  const app = render(<InspectApp {...props} />, { exitOnCtrlC: true });
  rendered?.(app);
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
}
