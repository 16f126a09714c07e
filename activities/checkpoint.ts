/**
 * Kernel checkpoints (`millrace run --checkpoint`, `millrace resume --restore checkpoint`):
 * a Python kernel's user namespace serialised with dill after a cell, kept in the store
 * beside the run (`runs/<run id>/checkpoints/cell-<index>.dill` and `.json`), and loaded
 * into a fresh kernel so a resumed run need not run the earlier cells again.
 *
 * The kernel may be remote (a Kernel/Enterprise Gateway), so the bytes travel over the
 * Jupyter protocol, never through a shared filesystem: saved bytes come back as base64 in
 * `user_expressions` of silent executions, and a restore sends them in silent executions.
 * Each message stays under Jupyter Server's (tornado's) default websocket limit of 10 MiB
 * for incoming messages (`websocket_max_message_size`), which also bounds what a gateway's
 * proxying websocket client accepts. Silent executions add nothing to the kernel's history,
 * outputs or execution count, and the helper lives on the IPython shell object, not in the
 * user's namespace.
 */
import type { Kernel } from '@jupyterlab/services';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { cellTags, isExecutable, type Notebook } from '../notebook/nbformat.js';
import type { Params } from '../notebook/params.js';
import { translate } from '../notebook/translators/python.js';
import { silentExecute, type ExecuteReply } from './execute-request.js';
import { ObjectNotFoundError, store } from '../record/store/index.js';

/** Tag that limits checkpoints to the cells carrying it. */
export const CHECKPOINT_TAG = 'checkpoint';

/**
 * Raw bytes per message: base64 makes 4 MiB about 5.6 MiB, well under the 10 MiB a Jupyter
 * Server (or a gateway's proxy) accepts in one websocket message by default.
 */
export const CHUNK_BYTES = 4 * 1024 * 1024;

const HELPER = `
def __millrace_checkpoint_install():
    ip = get_ipython()
    if getattr(ip, '_millrace_checkpoint', None) is not None:
        return
    import base64, hashlib, json, re, sys
    # IPython's own names (history, output cache, exit/quit, get_ipython) and dunders;
    # names IPython put in the namespace itself are in user_ns_hidden until rebound.
    own = re.compile(r'_|__|___|_i{1,3}|_i\\d+|_\\d+|_oh|_ih|_dh|In|Out|exit|quit|get_ipython|__\\w+__')
    b64 = lambda data: base64.b64encode(data).decode()
    def reason(e):
        return ('%s: %s' % (type(e).__name__, e))[:500]
    class Checkpoint:
        data = b''
        incoming = []
        def user_names(self):
            hidden, missing = ip.user_ns_hidden, object()
            return sorted(n for n, v in ip.user_ns.items() if not own.fullmatch(n) and hidden.get(n, missing) is not v)
        def save(self, chunk):
            import dill
            ns = ip.user_ns
            state = {n: ns[n] for n in self.user_names()}
            unserialisable = []
            # Explicit settings: user code may have changed dill.settings. Functions keep
            # __main__ (the user namespace) as their globals by reference.
            dump = lambda obj: dill.dumps(obj, byref=False, recurse=False)
            try:
                data = dump(state)
            except Exception:
                for n in list(state):
                    try:
                        dump(state[n])
                    except Exception as e:
                        unserialisable.append({'name': n, 'reason': reason(e)})
                        del state[n]
                try:
                    data = dump(state)
                except Exception as e:
                    unserialisable.append({'name': '*', 'reason': 'the namespace as a whole: ' + reason(e)})
                    state, data = {}, dump({})
            self.data = data
            head = {
                'bytes': len(data),
                'sha256': hashlib.sha256(data).hexdigest(),
                'names': sorted(state),
                'unserialisable': unserialisable,
                'python': sys.version.split()[0],
                'dill': dill.__version__,
            }
            return b64(json.dumps(head).encode()) + '.' + self.read(0, chunk)
        def read(self, offset, size):
            part = b64(self.data[offset:offset + size])
            if offset + size >= len(self.data):
                self.data = b''
            return part
        def begin(self):
            self.incoming = []
            import dill
            return dill.__version__
        def add(self, part):
            self.incoming.append(base64.b64decode(part))
        def load(self, sha256):
            import dill
            data, self.incoming = b''.join(self.incoming), []
            if hashlib.sha256(data).hexdigest() != sha256:
                raise ValueError('the checkpoint arrived damaged (sha256 mismatch)')
            state = dill.loads(data)
            ip.user_ns.update(state)
            return b64(json.dumps(sorted(state)).encode())
    ip._millrace_checkpoint = Checkpoint()
__millrace_checkpoint_install()
del __millrace_checkpoint_install
`;

const HANDLE = 'get_ipython()._millrace_checkpoint';

export const checkpointManifestSchema = z.object({
  run_id: z.string(),
  /** The cell (index in the run's record) after which the namespace was saved. */
  cell: z.number().int().nonnegative(),
  cell_id: z.string().nullable(),
  saved_at: z.string(),
  /** What saving cost the cell: serialising, fetching and writing to the store. */
  duration_ms: z.number().nonnegative(),
  /** The dill file beside this manifest; null when nothing could be saved. */
  data: z.string().nullable(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().nullable(),
  /** Names saved, and names left out because dill cannot serialise them. */
  names: z.array(z.string()),
  unserialisable: z.array(z.object({ name: z.string(), reason: z.string() })),
  python: z.string().nullable(),
  dill: z.string().nullable(),
  /** Why saving failed as a whole (e.g. dill missing in the kernel). */
  error: z.string().nullable(),
});
export type CheckpointManifest = z.infer<typeof checkpointManifestSchema>;

export function manifestLocation(folder: string, cell: number): string {
  return `${folder}/cell-${cell}.json`;
}

export function dataLocation(folder: string, cell: number): string {
  return `${folder}/cell-${cell}.dill`;
}

/** After this cell? Every completed code cell, unless some cell is tagged `checkpoint`: then those. */
export function checkpointWanted(nb: Notebook, index: number): boolean {
  const tagged = nb.cells.some((cell) => isExecutable(cell) && cellTags(cell).includes(CHECKPOINT_TAG));
  const cell = nb.cells[index];
  return cell !== undefined && isExecutable(cell) && (!tagged || cellTags(cell).includes(CHECKPOINT_TAG));
}

/** The record's last code cell that runs (not empty) before `fromCell`: the checkpoint a resume from there needs. */
export function checkpointCellFor(nb: Notebook, fromCell: number): number | undefined {
  for (let i = Math.min(fromCell, nb.cells.length) - 1; i >= 0; i--) {
    if (isExecutable(nb.cells[i]!)) return i;
  }
  return undefined;
}

/** Why a checkpoint cannot rebuild the kernel, or undefined when it can. */
export function checkpointUnusable(manifest: CheckpointManifest): string | undefined {
  if (manifest.error !== null || manifest.data === null || manifest.sha256 === null) {
    return `it could not be saved (${manifest.error ?? 'no data'})`;
  }
  if (manifest.unserialisable.length > 0) {
    const names = manifest.unserialisable.map((u) => (u.name === '*' ? u.reason : `${u.name} (${u.reason})`));
    return `it lacks objects dill cannot serialise: ${names.join(', ')}`;
  }
  return undefined;
}

/** The assignments that give parameters their new values after a restore: papermill's Python literals. */
export function assignmentCode(params: Params): string {
  return Object.entries(params)
    .map(([name, value]) => `${name} = ${translate(value)}`)
    .join('\n');
}

/** Splits bytes into base64 chunks of at most `size` raw bytes each. */
export function base64Chunks(data: Buffer, size = CHUNK_BYTES): string[] {
  const chunks: string[] = [];
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size).toString('base64'));
  return chunks;
}

export async function readManifest(folder: string, cell: number): Promise<CheckpointManifest | undefined> {
  const location = manifestLocation(folder, cell);
  let text: string;
  try {
    text = (await store.read(location)).toString('utf8');
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${location} is not valid JSON`);
  }
  const parsed = checkpointManifestSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${location} is not a checkpoint manifest: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Cells of a run that have a checkpoint manifest, ascending. */
export async function checkpointCells(folder: string): Promise<number[]> {
  const { objects } = await store.listFolder(folder);
  return objects
    .map((o) => /\/cell-(\d+)\.json$/.exec(o.location)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

// ---- the kernel side ----

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** A silent execution of the checkpoint helper: fails, rather than waits forever, when the kernel dies. */
function checkpointRequest(kernel: Kernel.IKernelConnection, code: string, expressions: Record<string, string> = {}): Promise<ExecuteReply> {
  return silentExecute(kernel, code, { purpose: 'checkpoint', expressions });
}

/** Why a reply is not ok: the kernel's error, else its status (aborted). */
function failureOf(reply: ExecuteReply): string {
  return reply.status === 'error' ? `${reply.ename}: ${reply.evalue}` : reply.status;
}

/** The string a user expression evaluated to (its repr without quotes), or the error it raised. */
function expressionText(reply: ExecuteReply, key: string): string {
  if (reply.status !== 'ok') {
    throw new CheckpointError(failureOf(reply));
  }
  const value = reply.user_expressions[key] as { status?: string; ename?: string; evalue?: string; data?: Record<string, string> } | undefined;
  if (value?.status !== 'ok') throw new CheckpointError(value ? `${value.ename}: ${value.evalue}` : 'the kernel returned nothing');
  const text = value.data?.['text/plain'];
  if (text === undefined) throw new CheckpointError('the kernel returned no text');
  return text.replace(/^'|'$/g, '');
}

function isMissingHelper(reply: ExecuteReply): boolean {
  const value = reply.status === 'ok' ? (reply.user_expressions['checkpoint'] as { ename?: string; evalue?: string } | undefined) : undefined;
  return value?.ename === 'AttributeError' && (value.evalue ?? '').includes('_millrace_checkpoint');
}

const headSchema = z.object({
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  names: z.array(z.string()),
  unserialisable: z.array(z.object({ name: z.string(), reason: z.string() })),
  python: z.string(),
  dill: z.string(),
});

/**
 * Python kernels with dill only: checked when the kernel starts, so a run with
 * --checkpoint fails before its first cell rather than after it. Installs the helper.
 */
export async function requireCheckpointSupport(kernel: Kernel.IKernelConnection, language: string): Promise<void> {
  if (language !== 'python') {
    throw new CheckpointError(`--checkpoint needs a Python kernel; kernel ${kernel.name} runs ${language}: run without --checkpoint`);
  }
  try {
    expressionText(await checkpointRequest(kernel, HELPER, { dill: `${HANDLE}.begin()` }), 'dill');
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    throw new CheckpointError(`--checkpoint needs dill in the kernel's Python environment (${err.message}): install it there or run without --checkpoint`);
  }
}

export interface SaveTarget {
  runId: string;
  /** The run's checkpoint folder in the store. */
  folder: string;
  cell: number;
  cellId: string | null;
}

/**
 * Serialises the kernel's user namespace and writes it and its manifest to the store (the
 * manifest last, so a manifest always describes complete data). A namespace that cannot
 * be saved is described by its manifest instead of failing the cell; a store that cannot
 * be written fails the activity, whose retry saves again.
 */
export async function saveCheckpoint(kernel: Kernel.IKernelConnection, target: SaveTarget): Promise<CheckpointManifest> {
  const started = Date.now();
  const base = { run_id: target.runId, cell: target.cell, cell_id: target.cellId, saved_at: new Date().toISOString() };
  let manifest: CheckpointManifest;
  try {
    const save = { checkpoint: `${HANDLE}.save(${CHUNK_BYTES})` };
    // The helper was installed when the kernel started; sending it again costs IPython
    // more than the save of a small namespace, so only a kernel that lost it gets it.
    let reply = await checkpointRequest(kernel, '', save);
    if (isMissingHelper(reply)) reply = await checkpointRequest(kernel, HELPER, save);
    const packed = expressionText(reply, 'checkpoint');
    const [headText = '', first = ''] = packed.split('.');
    const head = headSchema.parse(JSON.parse(Buffer.from(headText, 'base64').toString('utf8')));
    const parts = [Buffer.from(first, 'base64')];
    for (let offset = CHUNK_BYTES; offset < head.bytes; offset += CHUNK_BYTES) {
      const reply = await checkpointRequest(kernel, '', { part: `${HANDLE}.read(${offset}, ${CHUNK_BYTES})` });
      parts.push(Buffer.from(expressionText(reply, 'part'), 'base64'));
    }
    const data = Buffer.concat(parts);
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (data.length !== head.bytes || sha256 !== head.sha256) throw new CheckpointError('the checkpoint arrived damaged (size or sha256 mismatch)');
    await store.write(dataLocation(target.folder, target.cell), data);
    manifest = {
      ...base,
      duration_ms: 0,
      data: `cell-${target.cell}.dill`,
      bytes: data.length,
      sha256,
      names: head.names,
      unserialisable: head.unserialisable,
      python: head.python,
      dill: head.dill,
      error: null,
    };
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    manifest = { ...base, duration_ms: 0, data: null, bytes: 0, sha256: null, names: [], unserialisable: [], python: null, dill: null, error: err.message };
  }
  manifest.duration_ms = Date.now() - started;
  await store.write(manifestLocation(target.folder, target.cell), JSON.stringify(manifest, null, 1));
  return manifest;
}

export interface RestorePlan {
  location: string;
  sha256: string;
  bytes: number;
}

/**
 * Loads a checkpoint into a fresh kernel, all of it or nothing (the namespace is updated
 * only once dill has loaded every object), then assigns the parameters the resume changed.
 * Returns the names restored.
 */
export async function restoreNamespace(
  kernel: Kernel.IKernelConnection,
  plan: RestorePlan | undefined,
  assign: Params,
  onProgress: () => void,
): Promise<string[]> {
  const names = plan ? await loadCheckpoint(kernel, plan, onProgress) : [];
  const code = assignmentCode(assign);
  if (code) {
    const reply = await checkpointRequest(kernel, code);
    if (reply.status !== 'ok') throw new CheckpointError(`assigning the new parameter values failed: ${failureOf(reply)}`);
  }
  return names;
}

async function loadCheckpoint(kernel: Kernel.IKernelConnection, plan: RestorePlan, onProgress: () => void): Promise<string[]> {
  const data = await store.read(plan.location);
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (data.length !== plan.bytes || sha256 !== plan.sha256) {
    throw new CheckpointError(`checkpoint ${plan.location} does not match its manifest (size or sha256): the store was modified`);
  }
  expressionText(await checkpointRequest(kernel, HELPER, { dill: `${HANDLE}.begin()` }), 'dill');
  for (const chunk of base64Chunks(data)) {
    const reply = await checkpointRequest(kernel, `${HANDLE}.add('${chunk}')`);
    if (reply.status !== 'ok') throw new CheckpointError(failureOf(reply));
    onProgress();
  }
  const loaded = expressionText(await checkpointRequest(kernel, '', { names: `${HANDLE}.load('${plan.sha256}')` }), 'names');
  return z.array(z.string()).parse(JSON.parse(Buffer.from(loaded, 'base64').toString('utf8')));
}
