/**
 * The input of a run `millrace run` starts, from what the command was given: its options,
 * the notebook as typed, where it was called and what of its environment the input depends
 * on. One function, run by the command itself, or by `millrace dev` for a command that
 * hands it all of that (cli/dev-server.ts `follow`), so that the command loads none of
 * the notebook modules, zod or the store (docs/architecture.md, "Start-up"): the same
 * input, the same warnings, the same refusals either way.
 */
import type { WrapOptions } from '../jobs/wrap.js';
import type { KernelPlacement, RunInput } from '../workflows/contracts.js';
import { loadConfig, type Config } from './config.js';
import { buildRunInput, resolveParameters, validateNewRunId, type ParameterArgs } from './submit.js';

/** The options of `millrace run` that its run's input is built from, as the command parsed them. */
export interface RunInputOptions extends ParameterArgs {
  kernel?: string;
  output?: string;
  id?: string;
  /** A job file's --engine and --connection (as `millrace wrap`). */
  wrap?: WrapOptions;
  /** --cwd: the kernel's working directory (default: where the command was called). */
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
  /** papermill --inject-input-path / --inject-output-path / --inject-paths. */
  injectPaths?: { input?: boolean; output?: boolean };
}

/** A `millrace run` as it was called: what building its input reads. */
export interface RunCall {
  /** The NOTEBOOK argument as typed: a path (relative to `calledFrom`) or a URL. */
  notebook: string;
  options: RunInputOptions;
  /** The command's working directory (absolute). */
  calledFrom: string;
  /** The command's environment, or the part of it the input depends on (cli/dev-api.ts runInputEnv). */
  env: NodeJS.ProcessEnv;
}

export async function runInputOf(
  call: RunCall,
  hooks: { onWarning: (message: string) => void; onKernelName?: (name: string, notebookPlacement: unknown) => void },
): Promise<{ config: Config; input: RunInput }> {
  const { options, calledFrom } = call;
  const params = await resolveParameters(options, calledFrom);
  const config = loadConfig(call.env, calledFrom);
  const input = await buildRunInput(config, {
    ...(hooks.onKernelName ? { onKernelName: hooks.onKernelName } : {}),
    calledFrom,
    notebookPath: call.notebook,
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
    onWarning: hooks.onWarning,
  });
  return { config, input };
}
