/**
 * A foreground `run` that a running `millrace dev` starts and follows for it: the command
 * sends the input it built, prints what dev streams back (the progress and pause lines
 * `followRun` writes, cli/follow-run.ts) and the report as it prints its own
 * (cli/run-outcome.ts), and loads nothing of the Temporal client. Twenty such commands at
 * once cost twenty small processes, not twenty clients (docs/architecture.md, "Start-up").
 */
import type { RunInput } from '../workflows/contracts.js';
import type { Config } from './config.js';
import { askDev, followDev } from './dev-api.js';
import { EXIT, UserError } from './errors.js';
import { progressLog } from './output.js';
import { CANCELLING, followChoices, printReport, type RunReport } from './run-outcome.js';

/** What dev streams while it follows a run (cli/dev-server.ts `follow`). */
type FollowEvent = { started: string } | { stderr: string } | { log: string };

/**
 * Runs `input` through dev and returns the command's exit code, or undefined when no dev
 * answers here (the command then starts and follows the run itself).
 */
export async function followThroughDev(
  config: Config,
  input: RunInput,
  options: { json: boolean; warnings: string[]; progressBar?: boolean; logOutput?: boolean },
): Promise<number | undefined> {
  const choices = followChoices({ ...options, onFailure: input.onFailure });
  const log = progressLog(options);
  let stopOutput: (() => Promise<void>) | undefined;
  let cancelling = false;
  const onSigint = () => {
    if (cancelling) return;
    cancelling = true;
    log(CANCELLING);
    void askDev(config, 'cancel', { run: input.runId }).catch(() => undefined);
  };
  const onEvent = (event: FollowEvent) => {
    if ('started' in event) {
      log(`run ${input.runId}`);
      process.on('SIGINT', onSigint);
      if (choices.logOutput) {
        // Loaded only for --log-output: it reads the record as the cells write it.
        const following = import('./live-output.js').then(({ followCellOutput }) => followCellOutput(input.output, (text) => process.stderr.write(text)));
        stopOutput = async () => (await following)();
      }
    } else if ('stderr' in event) process.stderr.write(event.stderr);
    else log(event.log);
  };
  // dev stopped under the run (its stack with it): as when the command loses Temporal itself.
  const lost = () =>
    new UserError(
      `lost the connection to millrace dev while following run ${input.runId}; the run may still be going: once the stack is back, \`millrace show ${input.runId}\` says how it stands`,
      EXIT.environment,
    );
  const { progress, pauses } = choices;
  try {
    const report = await followDev<FollowEvent, RunReport>(config, 'follow', { input, progress, pauses }, onEvent, lost);
    await stopOutput?.();
    return report === undefined ? undefined : await printReport(report, { json: options.json, warnings: options.warnings });
  } finally {
    process.off('SIGINT', onSigint);
  }
}
