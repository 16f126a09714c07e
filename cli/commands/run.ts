/**
 * `millrace run NOTEBOOK`: submit one run and, unless detached, follow it to the end.
 * With a `millrace dev` here the command is a thin client: it hands dev what it was given
 * (its options, the notebook as typed, where it was called, the part of its environment
 * the run's input depends on), and dev builds the input with the function the command
 * would run (cli/run-input.ts), starts the run and follows it for it (cli/follow-dev.ts).
 * So this module and what it loads on that path stay light: no zod, no notebook modules,
 * nothing of Temporal. Without a dev, cli/run-here.ts does it all in the command.
 */
import { devTarget, runInputEnv } from '../dev-api.js';
import { runThroughDev } from '../follow-dev.js';
import type { RunInputOptions } from '../run-input.js';

export interface RunOptions extends RunInputOptions {
  /** papermill --prepare-only: write the parameterized notebook, run nothing. */
  prepareOnly?: boolean;
  detach: boolean;
  json: boolean;
  /** --progress-bar / --no-progress-bar; unset: on unless --log-output (papermill's default). */
  progressBar?: boolean;
  /** --log-output: stream each cell's outputs to stderr as papermill does. */
  logOutput?: boolean;
}

/**
 * The S3 store's settings and credentials come from the environment of the process that
 * reads or writes (record/store/s3.ts): a run with an s3:// location builds its input in
 * the command, as it always did, and hands dev the input (cli/run-here.ts).
 */
const S3 = /^s3:\/\//i;

export async function runCommand(notebook: string, options: RunOptions): Promise<number> {
  const { prepareOnly, detach, json, progressBar, logOutput, ...inputOptions } = options;
  const dev = prepareOnly ? undefined : devTarget(process.env, process.cwd());
  const s3 = [notebook, options.output, process.env['MILLRACE_STORE']].some((location) => location !== undefined && S3.test(location));
  if (dev && !s3) {
    const call = { notebook, options: inputOptions, calledFrom: process.cwd(), env: runInputEnv(process.env) };
    const code = await runThroughDev(dev, { call }, { detach, json, progressBar, logOutput, onFailure: options.onFailure, warnings: [], shown: notebook });
    if (code !== undefined) return code;
  }
  const { runHere } = await import('../run-here.js');
  return runHere(notebook, options);
}
