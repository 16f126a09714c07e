/**
 * Turning `millrace run` arguments into a workflow input: read and validate the notebook,
 * snapshot it into the store by content hash, resolve parameters, pick the run id and
 * the output location. Everything that can be wrong with the input fails here, before
 * anything is submitted.
 */
import { randomBytes, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { NotebookError, parseNotebook, type Notebook } from '../notebook/nbformat.js';
import {
  coerceCliValue,
  mergeParams,
  ParamError,
  paramsFromYaml,
  rawValue,
  validateParamName,
  type Params,
} from '../notebook/params.js';
import { joinLocation, ObjectExistsError, store } from '../activities/store/index.js';
import { runIdSchema, type RunInput } from '../workflows/contracts.js';
import type { Config } from './config.js';
import { UserError } from './errors.js';

export interface ParameterArgs {
  parameters: Array<[string, string]>;
  raw: Array<[string, string]>;
  files: string[];
  yaml: string[];
}

export async function resolveParameters(args: ParameterArgs): Promise<Params> {
  try {
    const fromFiles: Params[] = [];
    for (const file of args.files) {
      const text = await readFile(file, 'utf8').catch(() => {
        throw new UserError(`-f ${file}: cannot read the file`);
      });
      fromFiles.push(paramsFromYaml(text, `-f ${file}`));
    }
    const fromYaml = args.yaml.map((text) => paramsFromYaml(text, '-y'));
    for (const [name] of [...args.parameters, ...args.raw]) validateParamName(name);
    const params = mergeParams({
      files: fromFiles,
      yaml: fromYaml,
      parameters: args.parameters.map(([name, value]) => [name, coerceCliValue(value)] as const),
      raw: args.raw.map(([name, value]) => [name, rawValue(value)] as const),
    });
    for (const name of Object.keys(params)) validateParamName(name);
    return params;
  } catch (err) {
    if (err instanceof ParamError) throw new UserError(err.message);
    throw err;
  }
}

export function newRunId(notebookPath: string, now = new Date()): string {
  const stem = basename(notebookPath, extname(notebookPath)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'run';
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stem.slice(0, 80)}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export function validateRunId(id: string): string {
  const parsed = runIdSchema.safeParse(id);
  if (!parsed.success) throw new UserError(`--id ${JSON.stringify(id)}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export interface SubmitOptions {
  notebookPath: string;
  params: Params;
  kernelName?: string;
  output?: string;
  runId?: string;
  cellTimeoutS?: number;
  runTimeoutS?: number;
  onKernelLoss?: 'fail' | 'restart';
  onFailure?: 'fail' | 'pause';
  pauseTimeoutS?: number;
  /** --checkpoint: save the kernel's namespace after cells (Python kernels only). */
  checkpoint?: boolean;
}

export async function buildRunInput(config: Config, options: SubmitOptions): Promise<RunInput> {
  if (options.pauseTimeoutS !== undefined && options.onFailure !== 'pause') {
    throw new UserError('--pause-timeout applies to runs with --on-failure pause');
  }
  const path = resolve(options.notebookPath);
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new UserError(
      err.code === 'ENOENT' ? `${options.notebookPath}: no such file` : `${options.notebookPath}: cannot read (${err.code})`,
    );
  });
  let nb: Notebook;
  try {
    nb = parseNotebook(bytes.toString('utf8'), options.notebookPath);
  } catch (err) {
    if (err instanceof NotebookError) throw new UserError(err.message);
    throw err;
  }
  // The worker checks the kernel's own language too; a notebook that says it is not Python is refused now.
  const language = nb.metadata.language_info?.name ?? nb.metadata.kernelspec?.language;
  if (options.checkpoint && !options.kernelName && typeof language === 'string' && language.toLowerCase() !== 'python') {
    throw new UserError(`--checkpoint needs a Python kernel; ${options.notebookPath} declares the language ${language}: run it without --checkpoint`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const source = joinLocation(config.storeRoot, 'sources', `${sha256}.ipynb`);
  // Content-addressed and written once: an existing snapshot is the same bytes.
  await store.write(source, bytes, { ifAbsent: true }).catch((err) => {
    if (!(err instanceof ObjectExistsError)) throw err;
  });
  const runId = options.runId ? validateRunId(options.runId) : newRunId(path);
  const output = options.output
    ? resolve(options.output)
    : joinLocation(config.storeRoot, 'runs', runId, basename(path));
  return {
    runId,
    source: { location: source, sha256 },
    inputPath: path,
    output,
    parameters: options.params,
    ...(options.kernelName ? { kernelName: options.kernelName } : {}),
    ...(options.cellTimeoutS !== undefined ? { cellTimeoutS: options.cellTimeoutS } : {}),
    ...(options.runTimeoutS !== undefined ? { runTimeoutS: options.runTimeoutS } : {}),
    ...(options.onKernelLoss ? { onKernelLoss: options.onKernelLoss } : {}),
    ...(options.onFailure ? { onFailure: options.onFailure } : {}),
    ...(options.pauseTimeoutS !== undefined ? { pauseTimeoutS: options.pauseTimeoutS } : {}),
    ...(options.checkpoint ? { checkpoint: true } : {}),
  };
}
