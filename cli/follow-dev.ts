/**
 * `millrace run` through a running `millrace dev` (cli/dev-server.ts `run`): the command
 * hands dev how it was called (cli/run-input.ts RunCall; dev builds the input) or the input
 * it built, prints what dev streams back (the warnings building the input logs, the
 * progress and pause lines `followRun` writes, cli/follow-run.ts) and the report or the
 * started run as it prints its own (cli/run-outcome.ts, cli/output.ts), and loads nothing
 * of the Temporal client, zod or the notebook modules. Twenty such commands at once cost
 * twenty small processes (docs/architecture.md, "Start-up").
 */
import type { RunInput } from '../workflows/contracts.js';
import { askDev, followDev, type DevTarget } from './dev-api.js';
import { EXIT, UserError } from './errors.js';
import { printStarted, progressLog } from './output.js';
import type { RunCall } from './run-input.js';
import { CANCELLING, followChoices, printReport, type RunReport } from './run-outcome.js';

/** What the command hands dev: how it was called, for dev to build the input, or the input it built. */
export type DevRunRequest = { call: RunCall } | { input: RunInput };

/** What dev streams while it starts and follows a run (cli/dev-server.ts `run`). */
export type RunEvent = { warning: string } | { started: string; output: string } | { stderr: string } | { log: string };

/** dev's answer: the run started (`--detach`), or the report of the run it followed. */
type RunAnswer = { run_id: string; output: string } | RunReport;

/**
 * Runs the request through dev and returns the command's exit code, or undefined when no
 * dev answers here (the command then does it itself). `shown` is the notebook as typed.
 */
export async function runThroughDev(
  dev: DevTarget,
  request: DevRunRequest,
  options: { detach: boolean; json: boolean; warnings: string[]; progressBar?: boolean; logOutput?: boolean; onFailure?: 'fail' | 'pause'; shown: string },
): Promise<number | undefined> {
  const choices = followChoices(options);
  const log = progressLog(options);
  // Known from the start when the command built the input or was given --id; else when dev started it.
  let runId = 'input' in request ? request.input.runId : request.call.options.id;
  let stopOutput: (() => Promise<void>) | undefined;
  let cancelling = false;
  const onSigint = () => {
    if (cancelling || runId === undefined) return;
    cancelling = true;
    log(CANCELLING);
    void askDev(dev, 'cancel', { run: runId }).catch(() => undefined);
  };
  const onEvent = (event: RunEvent) => {
    if ('warning' in event) {
      // papermill logs these as it starts; under --json they are in the object instead.
      options.warnings.push(event.warning);
      if (!options.json) process.stderr.write(`${event.warning}\n`);
    } else if ('started' in event) {
      runId = event.started;
      if (options.detach) return;
      log(`run ${runId}`);
      process.on('SIGINT', onSigint);
      if (choices.logOutput) {
        // Loaded only for --log-output: it reads the record as the cells write it.
        const following = import('./live-output.js').then(({ followCellOutput }) => followCellOutput(event.output, (text) => process.stderr.write(text)));
        stopOutput = async () => (await following)();
      }
    } else if ('stderr' in event) process.stderr.write(event.stderr);
    else log(event.log);
  };
  // dev stopped under the run (its stack with it): as when the command loses Temporal itself.
  const lost = () =>
    new UserError(
      runId === undefined
        ? `lost the connection to millrace dev while starting a run of ${options.shown}; it may have started: once the stack is back, \`millrace runs\` lists the runs`
        : `lost the connection to millrace dev while ${options.detach ? 'starting' : 'following'} run ${runId}; the run may still be going: once the stack is back, \`millrace show ${runId}\` says how it stands`,
      EXIT.environment,
    );
  const { progress, pauses } = choices;
  try {
    const answer = await followDev<RunEvent, RunAnswer>(dev, 'run', { ...request, detach: options.detach, progress, pauses }, onEvent, lost);
    await stopOutput?.();
    if (answer === undefined) return undefined;
    if (options.detach) {
      printStarted({ runId: answer.run_id, output: answer.output }, options);
      return EXIT.ok;
    }
    return await printReport(answer as RunReport, options);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
