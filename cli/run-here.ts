/**
 * `millrace run` when no `millrace dev` builds its input for it (cli/commands/run.ts): the
 * command builds it itself (cli/run-input.ts, the function dev runs), then hands it to a
 * dev that takes built inputs (an s3:// location, or a TEMPORAL_* variable that made the
 * command load its configuration), or starts and follows the run through its own session.
 */
import type { RunOptions } from './commands/run.js';
import type { KernelHint } from './environment.js';
import { EXIT } from './errors.js';
import { runThroughDev } from './follow-dev.js';
import { runInputOf } from './run-input.js';
import { longLivedOnly, NEEDS_WORKER, outlives, withSession, type StackNeed } from './session.js';
import { resolveParameters, writePreparedNotebook } from './submit.js';

/** `--detach`: the run goes on after this command, so it needs a stack that does too. */
export const DETACHED: StackNeed = outlives('--detach');
/** `--on-failure pause`: the paused run waits for repairs from other commands. */
export const PAUSE_REFUSAL =
  '--on-failure pause needs a stack that other commands can reach to repair the run: start `millrace dev` or set TEMPORAL_ADDRESS';
const PAUSABLE = longLivedOnly(PAUSE_REFUSAL);

export async function runHere(notebook: string, options: RunOptions): Promise<number> {
  // papermill logs these as it starts; under --json they are in the object instead.
  const warnings: string[] = [];
  const onWarning = (message: string) => {
    warnings.push(message);
    if (!options.json) process.stderr.write(`${message}\n`);
  };
  if (options.prepareOnly) {
    const params = await resolveParameters(options);
    const { output } = await writePreparedNotebook({ notebookPath: notebook, params, kernelName: options.kernel, output: options.output, reportMode: options.reportMode, injectPaths: options.injectPaths, onWarning, wrap: options.wrap });
    process.stdout.write(options.json ? `${JSON.stringify({ status: 'prepared', output, warnings })}\n` : `prepared: ${output}\n`);
    return EXIT.ok;
  }
  let kernelHint: KernelHint | undefined;
  const { config, input } = await runInputOf(
    { notebook, options, calledFrom: process.cwd(), env: process.env },
    { onWarning, onKernelName: (name, notebookPlacement) => (kernelHint = { name, ...(options.placement ? { placement: options.placement } : {}), notebookPlacement }) },
  );
  // A running `millrace dev` starts it with the function the command would run (startRun)
  // and, unless detached, follows it as the command would (followRun).
  const code = await runThroughDev(config, { input }, { ...options, warnings, shown: notebook });
  if (code !== undefined) return code;
  const needs = options.detach ? DETACHED : input.onFailure === 'pause' ? PAUSABLE : NEEDS_WORKER;
  // The session first: an embedded stack's servers start while the client and the rest load.
  return withSession({ needs, json: options.json, config, createsState: true, ...(kernelHint ? { kernelHint } : {}) }, async (session) => {
    const { submitRun } = await import('./follow-run.js');
    return submitRun(session, input, { ...options, warnings });
  });
}
