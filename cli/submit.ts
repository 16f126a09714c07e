/**
 * Turning `millrace run` arguments into a workflow input: read and validate the notebook,
 * snapshot it into the store by content hash, resolve parameters, pick the run id and
 * the output location. Everything that can be wrong with the input fails here, before
 * anything is submitted.
 */
import { randomBytes, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { NotebookError, parseNotebook, serializeNotebook, type Notebook } from '../notebook/nbformat.js';
import { checkParamsLimits } from '../notebook/limits.js';
import { parameterize, parameterWarnings } from '../notebook/parameterize.js';
import { loadedNotebook, preparedNotebook } from '../notebook/record.js';
import { MILLRACE_VERSION } from '../notebook/version.js';
import {
  coerceCliValue,
  mergeParams,
  ParamError,
  str,
  rawValue,
  validateParamName,
  type Params,
} from '../notebook/params.js';
import {
  backendFor,
  checkReachable,
  isUrlLocation,
  isWritableLocation,
  joinLocation,
  locationBasename,
  ObjectExistsError,
  ObjectNotFoundError,
  redactUrl,
  store,
  StoreError,
} from '../record/store/index.js';
import { runIdSchema, type KernelPlacement, type RunInput } from '../workflows/contracts.js';
import { readNotebookSource, type NotebookSource } from './notebook-source.js';
import type { Config } from './config.js';
import type { WrapOptions } from '../jobs/wrap.js';
import { requiredJobParameters } from '../notebook/sql/generate.js';
import { EXIT, UserError } from './errors.js';

export interface ParameterArgs {
  parameters: Array<[string, string]>;
  raw: Array<[string, string]>;
  files: string[];
  yaml: string[];
}

/** The yaml package is a tenth of a `run` process's CPU to load: only commands given -f or -y load it. */
async function paramsFromYaml(text: string, where: string): Promise<Params> {
  return (await import('../notebook/params-yaml.js')).paramsFromYaml(text, where);
}

/** `cwd`: where the command was called, which relative -f paths are taken from. */
export async function resolveParameters(args: ParameterArgs, cwd: string = process.cwd()): Promise<Params> {
  try {
    const fromFiles: Params[] = [];
    for (const file of args.files) {
      const text = await readFile(resolve(cwd, file), 'utf8').catch(() => {
        throw new UserError(`-f ${file}: cannot read the file`);
      });
      fromFiles.push(await paramsFromYaml(text, `-f ${file}`));
    }
    const fromYaml: Params[] = [];
    for (const text of args.yaml) fromYaml.push(await paramsFromYaml(text, '-y'));
    for (const [name] of [...args.parameters, ...args.raw]) validateParamName(name);
    const params = mergeParams({
      files: fromFiles,
      yaml: fromYaml,
      parameters: args.parameters.map(([name, value]) => [name, coerceCliValue(value)] as const),
      raw: args.raw.map(([name, value]) => [name, rawValue(value)] as const),
    });
    for (const name of Object.keys(params)) validateParamName(name);
    return checkParameters(params);
  } catch (err) {
    if (err instanceof ParamError) throw new UserError(err.message);
    throw err;
  }
}

/**
 * Parameters a run can carry (notebook/limits.ts): refused here, exit 2, rather than by
 * Temporal when the run starts. Checked again wherever parameters are merged.
 */
export function checkParameters<P extends Params>(params: P): P {
  try {
    checkParamsLimits(params);
  } catch (err) {
    if (err instanceof ParamError) throw new UserError(err.message);
    throw err;
  }
  return params;
}

export function newRunId(notebookPath: string, now = new Date()): string {
  const name = locationBasename(notebookPath);
  const stem = name.slice(0, name.length - extname(name).length).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'run';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stem.slice(0, 80)}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * A run id as given on the command line; `given` names where it came from, for the
 * message: `--id`, or the command whose argument it is (`show`, `cancel`, ...).
 */
export function validateRunId(id: string, given: string): string {
  const parsed = runIdSchema.safeParse(id);
  if (!parsed.success) throw new UserError(`${given} ${JSON.stringify(id)}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Wherever a RUN argument is taken, these name the newest run (cli/run-ids.ts). */
export const LATEST_RUN_NAMES: ReadonlySet<string> = new Set(['latest', '-']);

/** `--id` of a new run: a valid run id, and not one of the names of the newest run. */
export function validateNewRunId(id: string): string {
  if (LATEST_RUN_NAMES.has(id)) {
    throw new UserError(`--id ${JSON.stringify(id)}: "latest" and "-" name the newest run wherever a run is given; choose another id`);
  }
  return validateRunId(id, '--id');
}

export interface SubmitOptions {
  notebookPath: string;
  params: Params;
  kernelName?: string;
  /**
   * Told the kernel the run will ask for (kernelNameOf) and the notebook's own placement
   * (`metadata.millrace.kernel`, unchecked), so an embedded stack can start it early.
   */
  onKernelName?: (kernelName: string, notebookPlacement: unknown) => void;
  output?: string;
  runId?: string;
  /**
   * The kernel's working directory, relative to this process's (papermill's --cwd). `run`
   * always gives one; without it (schedules) the kernel stays where Jupyter starts it.
   */
  cwd?: string;
  cellTimeoutS?: number;
  runTimeoutS?: number;
  onKernelLoss?: 'fail' | 'restart';
  onFailure?: 'fail' | 'pause';
  pauseTimeoutS?: number;
  /** --checkpoint: save the kernel's namespace after cells (Python kernels only). */
  checkpoint?: boolean;
  /** papermill --inject-input-path / --inject-output-path (--inject-paths is both). */
  injectPaths?: { input?: boolean; output?: boolean };
  /** papermill --report-mode: code cells' sources hidden in the record. */
  reportMode?: boolean;
  /** papermill --start-timeout, seconds. */
  startTimeoutS?: number;
  /** --image/--cpus/--memory/--env/--mount. */
  placement?: KernelPlacement;
  /** Told each warning papermill would log for these parameters (`Passed unknown parameter: x`). */
  onWarning?: (message: string) => void;
  /** A job file's --engine and --connection (jobs/wrap.ts). */
  wrap?: WrapOptions;
  /**
   * Where the command was called (default: this process's working directory): relative
   * paths (the notebook, --output, cwd) are taken from here, also when `millrace dev`
   * builds the input for the command (cli/run-input.ts).
   */
  calledFrom?: string;
  /** Parameters each run gets later (a schedule's run time and date): not missing now. */
  injected?: string[];
}

/** A store failure as one line for the terminal, with the exit code that says whose it is. */
export function storeUserError(err: unknown, what: string): unknown {
  if (err instanceof StoreError) {
    const environment = err.kind === 'unreachable' || err.kind === 'denied' || err.kind === 'no-bucket' || err.kind === 'no-space';
    return new UserError(`${what}: ${err.message}`, environment ? EXIT.environment : EXIT.badInput);
  }
  return err;
}

/** An http(s):// or s3:// notebook, read through the store (cli/notebook-source.ts reads local ones). */
export async function readStoredNotebook(location: string): Promise<NotebookSource> {
  const shown = redactUrl(location);
  try {
    backendFor(location);
    await checkReachable(location);
    const bytes = await store.read(location);
    return { bytes, inputPath: shown, name: locationBasename(shown) };
  } catch (err) {
    if (err instanceof ObjectNotFoundError) throw new UserError(`${shown}: no such notebook`);
    throw storeUserError(err, shown);
  }
}

/** --output: a local path (made absolute from `cwd`) or s3://bucket/key; never an http(s) URL. */
export function outputLocation(output: string, cwd: string = process.cwd()): string {
  if (!isUrlLocation(output)) return resolve(cwd, output);
  try {
    backendFor(output);
  } catch (err) {
    throw storeUserError(err, '--output');
  }
  if (!isWritableLocation(output)) throw new UserError(`--output ${redactUrl(output)}: an http(s) URL is read-only; write to a local path or s3://bucket/key`);
  if (output.endsWith('/')) throw new UserError(`--output ${output}: name the output notebook, not a folder`);
  return output;
}

export async function buildRunInput(config: Config, options: SubmitOptions): Promise<RunInput> {
  if (options.pauseTimeoutS !== undefined && options.onFailure !== 'pause') {
    throw new UserError('--pause-timeout applies to runs with --on-failure pause');
  }
  const calledFrom = options.calledFrom ?? process.cwd();
  const output = options.output ? outputLocation(options.output, calledFrom) : undefined;
  // A store that cannot be reached fails here, naming its endpoint, before anything starts.
  for (const location of new Set([config.storeRoot, ...(output ? [output] : [])])) {
    await checkReachable(location).catch((err) => {
      throw storeUserError(err, location === output ? '--output' : 'the store (MILLRACE_STORE)');
    });
  }
  const { bytes, inputPath, name } = await readNotebookSource(options.notebookPath, options.wrap, calledFrom);
  let nb: Notebook;
  try {
    nb = parseNotebook(bytes.toString('utf8'), inputPath);
  } catch (err) {
    if (err instanceof NotebookError) throw new UserError(err.message);
    throw err;
  }
  // The worker checks the kernel's own language too; a notebook that says it is not Python is refused now.
  const language = nb.metadata.language_info?.name ?? nb.metadata.kernelspec?.language;
  if (options.checkpoint && !options.kernelName && typeof language === 'string' && language.toLowerCase() !== 'python') {
    throw new UserError(`--checkpoint needs a Python kernel; ${options.notebookPath} declares the language ${language}: run it without --checkpoint`);
  }
  const runId = options.runId ? validateRunId(options.runId, '--id') : newRunId(name);
  const outputPath = output ?? joinLocation(config.storeRoot, 'runs', runId, name);
  const parameters = checkParameters({ ...injectedPaths(options.injectPaths, inputPath, outputPath), ...options.params });
  if (options.onWarning) submitWarnings(nb, parameters, options.kernelName).forEach(options.onWarning);
  const missing = requiredJobParameters(nb).find((p) => !(p in parameters) && !(options.injected ?? []).includes(p));
  if (missing !== undefined) throw new UserError(`${options.notebookPath}: parameter ${missing} is required: pass -p ${missing} VALUE`);
  options.onKernelName?.(kernelNameOf(nb, options.kernelName), (nb.metadata as { millrace?: { kernel?: unknown } }).millrace?.kernel);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const source = joinLocation(config.storeRoot, 'sources', `${sha256}.ipynb`);
  // Content-addressed and written once: an existing snapshot is the same bytes.
  await store.write(source, bytes, { ifAbsent: true }).catch((err) => {
    if (!(err instanceof ObjectExistsError)) throw storeUserError(err, 'saving the notebook snapshot');
  });
  return {
    runId,
    source: { location: source, sha256 },
    inputPath,
    output: outputPath,
    parameters,
    // Made absolute here, where the user typed it; whether it exists is the kernel's to say.
    ...(options.cwd !== undefined ? { cwd: resolve(calledFrom, options.cwd) } : {}),
    ...(options.kernelName ? { kernelName: options.kernelName } : {}),
    ...(options.cellTimeoutS !== undefined ? { cellTimeoutS: options.cellTimeoutS } : {}),
    ...(options.runTimeoutS !== undefined ? { runTimeoutS: options.runTimeoutS } : {}),
    ...(options.onKernelLoss ? { onKernelLoss: options.onKernelLoss } : {}),
    ...(options.onFailure ? { onFailure: options.onFailure } : {}),
    ...(options.pauseTimeoutS !== undefined ? { pauseTimeoutS: options.pauseTimeoutS } : {}),
    ...(options.checkpoint ? { checkpoint: true } : {}),
    ...(options.reportMode ? { reportMode: true } : {}),
    ...(options.startTimeoutS !== undefined ? { startTimeoutS: options.startTimeoutS } : {}),
    ...(options.placement ? { placement: options.placement } : {}),
  };
}

/**
 * papermill --prepare-only: the parameterized output notebook, written without a kernel
 * or Temporal (papermill starts no engine either). Needs --output: papermill's
 * OUTPUT_PATH, as it is no run's record. Never overwrites a file.
 */
export async function writePreparedNotebook(options: SubmitOptions): Promise<{ output: string }> {
  if (!options.output) throw new UserError('--prepare-only needs --output PATH: where to write the prepared notebook');
  const output = outputLocation(options.output);
  const { bytes, inputPath } = await readNotebookSource(options.notebookPath, options.wrap);
  let prepared: Notebook;
  try {
    const nb = loadedNotebook(parseNotebook(bytes.toString('utf8'), inputPath), MILLRACE_VERSION);
    const parameters = { ...injectedPaths(options.injectPaths, inputPath, output), ...options.params };
    const kernelName = kernelNameOf(nb, options.kernelName);
    const { notebook, warnings } = parameterize(nb, parameters, { kernelName, ...(options.reportMode ? { reportMode: true } : {}) });
    warnings.forEach((w) => options.onWarning?.(w));
    prepared = preparedNotebook(notebook, { inputPath, outputPath: output, ...(options.reportMode ? { reportMode: true } : {}) });
  } catch (err) {
    if (err instanceof NotebookError || err instanceof ParamError) throw new UserError(err.message);
    throw err;
  }
  await store.write(output, Buffer.from(serializeNotebook(prepared, { trailingNewline: false })), { ifAbsent: true }).catch((err) => {
    if (err instanceof ObjectExistsError) throw new UserError(`--output ${redactUrl(output)} exists: --prepare-only never overwrites a file (remove it or choose another --output)`);
    throw storeUserError(err, '--output');
  });
  return { output };
}

/**
 * papermill's cli.py: PAPERMILL_INPUT_PATH / PAPERMILL_OUTPUT_PATH, the paths its record
 * holds (metadata.papermill input_path, output_path), as parameters put before the user's,
 * which may override them.
 */
function injectedPaths(inject: SubmitOptions['injectPaths'], inputPath: string, outputPath: string): Params {
  return {
    ...(inject?.input ? { PAPERMILL_INPUT_PATH: str(inputPath) } : {}),
    ...(inject?.output ? { PAPERMILL_OUTPUT_PATH: str(outputPath) } : {}),
  };
}

/** The kernel prepareRun picks (activities/prepare-run.ts): --kernel, else the notebook's kernelspec, else python3. */
export function kernelNameOf(nb: Notebook, requested: string | undefined): string {
  return requested ?? nb.metadata.kernelspec?.name ?? 'python3';
}

/**
 * The warnings prepareRun will compute (the same pure function), known at submit so that
 * every way of running prints them: attached, --detach, resumed, a schedule being created.
 */
export function submitWarnings(nb: Notebook, params: Params, kernelName: string | undefined): string[] {
  try {
    return parameterWarnings(nb, params, { kernelName: kernelNameOf(nb, kernelName) });
  } catch (err) {
    // A notebook whose parameters cannot be injected fails the run in prepareRun, with its reason.
    if (err instanceof ParamError) return [];
    throw err;
  }
}
