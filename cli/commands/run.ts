/**
 * `millrace run NOTEBOOK`: submit one run and, unless detached, follow it to the end
 * (cli/follow-run.ts). Light until it reaches Temporal itself: with a `millrace dev` here,
 * `run --detach` asks dev to start the run, and a foreground `run` asks dev to start and
 * follow it (cli/follow-dev.ts), and neither loads the Temporal client.
 */
import type { WrapOptions } from '../../jobs/wrap.js';
import type { KernelPlacement } from '../../workflows/contracts.js';
import { loadConfig } from '../config.js';
import { askDev } from '../dev-api.js';
import type { KernelHint } from '../environment.js';
import { EXIT } from '../errors.js';
import { printStarted } from '../output.js';
import { longLivedOnly, NEEDS_WORKER, outlives, withSession, type StackNeed } from '../session.js';
import { buildRunInput, resolveParameters, validateNewRunId, writePreparedNotebook, type ParameterArgs } from '../submit.js';

export interface RunOptions extends ParameterArgs {
  kernel?: string;
  output?: string;
  id?: string;
  /** A job file's --engine and --connection (as `millrace wrap`). */
  wrap?: WrapOptions;
  /** --cwd: the kernel's working directory (default: this process's). */
  cwd?: string;
  cellTimeout?: number;
  timeout?: number;
  onKernelLoss?: 'fail' | 'restart';
  onFailure?: 'fail' | 'pause';
  /** Seconds. */
  pauseTimeout?: number;
  checkpoint?: boolean;
  /** --image/--cpus/--memory/--env/--mount: the kernel in a container. */
  placement?: KernelPlacement;
  /** papermill --report-mode. */
  reportMode?: boolean;
  /** papermill --start-timeout, seconds. */
  startTimeout?: number;
  /** papermill --prepare-only: write the parameterized notebook, run nothing. */
  prepareOnly?: boolean;
  /** papermill --inject-input-path / --inject-output-path / --inject-paths. */
  injectPaths?: { input?: boolean; output?: boolean };
  detach: boolean;
  json: boolean;
  /** --progress-bar / --no-progress-bar; unset: on unless --log-output (papermill's default). */
  progressBar?: boolean;
  /** --log-output: stream each cell's outputs to stderr as papermill does. */
  logOutput?: boolean;
}

/** `--detach`: the run goes on after this command, so it needs a stack that does too. */
export const DETACHED: StackNeed = outlives('--detach');
/** `--on-failure pause`: the paused run waits for repairs from other commands. */
export const PAUSE_REFUSAL =
  '--on-failure pause needs a stack that other commands can reach to repair the run: start `millrace dev` or set TEMPORAL_ADDRESS';
const PAUSABLE = longLivedOnly(PAUSE_REFUSAL);

export async function runCommand(notebook: string, options: RunOptions): Promise<number> {
  const params = await resolveParameters(options);
  // papermill logs these as it starts; under --json they are in the object instead.
  const warnings: string[] = [];
  const onWarning = (message: string) => {
    warnings.push(message);
    if (!options.json) process.stderr.write(`${message}\n`);
  };
  if (options.prepareOnly) {
    const { output } = await writePreparedNotebook({ notebookPath: notebook, params, kernelName: options.kernel, output: options.output, reportMode: options.reportMode, injectPaths: options.injectPaths, onWarning, wrap: options.wrap });
    process.stdout.write(options.json ? `${JSON.stringify({ status: 'prepared', output, warnings })}\n` : `prepared: ${output}\n`);
    return EXIT.ok;
  }
  const config = loadConfig();
  let kernelHint: KernelHint | undefined;
  const input = await buildRunInput(config, {
    onKernelName: (name, notebookPlacement) => (kernelHint = { name, ...(options.placement ? { placement: options.placement } : {}), notebookPlacement }),
    notebookPath: notebook,
    wrap: options.wrap,
    params,
    kernelName: options.kernel,
    output: options.output,
    // `latest` and `-` name the newest run; refused here, as buildRunInput's runId may also be a schedule's name.
    runId: options.id === undefined ? undefined : validateNewRunId(options.id),
    // papermill's rule: the kernel works where the command was called, unless --cwd says otherwise.
    cwd: options.cwd ?? '.',
    cellTimeoutS: options.cellTimeout,
    runTimeoutS: options.timeout,
    onKernelLoss: options.onKernelLoss,
    onFailure: options.onFailure,
    pauseTimeoutS: options.pauseTimeout,
    checkpoint: options.checkpoint,
    reportMode: options.reportMode,
    startTimeoutS: options.startTimeout,
    placement: options.placement,
    injectPaths: options.injectPaths,
    onWarning,
  });
  // A running `millrace dev` starts it with the function the command would run (startRun)
  // and, unless detached, follows it as the command would (followRun).
  if (options.detach && (await askDev<{ run_id: string }>(config, 'start', input))) {
    printStarted(input, { json: options.json, warnings });
    return EXIT.ok;
  }
  if (!options.detach) {
    const { followThroughDev } = await import('../follow-dev.js');
    const code = await followThroughDev(config, input, { ...options, warnings });
    if (code !== undefined) return code;
  }
  const needs = options.detach ? DETACHED : input.onFailure === 'pause' ? PAUSABLE : NEEDS_WORKER;
  // The session first: an embedded stack's servers start while the client and the rest load.
  return withSession({ needs, json: options.json, config, createsState: true, ...(kernelHint ? { kernelHint } : {}) }, async (session) => {
    const { submitRun } = await import('../follow-run.js');
    return submitRun(session, input, { ...options, warnings });
  });
}

