/**
 * Container kernels (issue 16, local podman): a run placed with --image runs its kernel in
 * a container of that image, with its CPU and memory limits, only the allowed variables
 * and mounts, a network of its own (only its ports published); the container is gone after the run, after a cancel and after its Jupyter
 * Server died with the worker; what the worker does not allow is refused before anything
 * starts. Needs the images scripts/setup.sh builds (podman, runc, debootstrap).
 */
import { SessionAPI } from '@jupyterlab/services';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { execFile } from 'node:child_process';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings, shutdownKernel } from '../../activities/jupyter.js';
import { KernelPool } from '../../activities/kernel-pool.js';
import { startPlacedKernel } from '../../activities/kernel-lifecycle.js';
import { silentExecute } from '../../activities/execute-request.js';
import { temporalSource } from '../../cli/inspect/data.js';
import { runHeader } from '../../cli/inspect/view-model.js';
import { parseNotebook } from '../../notebook/nbformat.js';
import { renderNotebookPage } from '../../viewer/render-notebook.js';
import { placementsDir } from '../../activities/kernel-placement.js';
import type { Config } from '../../cli/config.js';
import { buildRunInput, resolveParameters } from '../../cli/submit.js';
import { startJupyterServer, type JupyterServer } from '../../worker/jupyter-server.js';
import { podman, reapOrphanContainers } from '../../worker/orphans.js';
import { createWorker, type MillraceWorker } from '../../worker/worker.js';
import type { KernelPlacement, RunResult } from '../../workflows/contracts.js';
import { codeCell, notebook, runAcrossSigkill, runCli, streamText, waitFor, waitForSavedOutput, type NotebookJson, failureMessage } from './harness.js';

const exec = promisify(execFile);
const imageFile = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'millrace', 'containers', 'kernel-image');

let dir: string;
let stateDir: string;
let jupyter: JupyterServer;
let worker: MillraceWorker;
let running: Promise<void>;
let client: Client;
let config: Config;
let image: string;
/** A host folder the worker allows runs to mount. */
let shared: string;
let cliEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  if (!existsSync(imageFile)) throw new Error(`no kernel image: run scripts/setup.sh (it builds one with podman; ${imageFile} is missing)`);
  image = readFileSync(imageFile, 'utf8').trim();
  const stack = inject('stack');
  dir = await realpath(await mkdtemp(join(tmpdir(), 'millrace-containers-')));
  stateDir = join(dir, 'state');
  shared = join(dir, 'shared');
  await mkdir(shared);
  await writeFile(join(shared, 'input.txt'), 'from the host\n');
  // A Jupyter Server of this test's own: its placements folder is this worker's.
  jupyter = await startJupyterServer({ stateDir });
  const taskQueue = `test-${randomBytes(4).toString('hex')}`;
  config = { namespace: stack.namespace, taskQueue, stateDir, storeRoot: join(dir, 'store'), temporalAddress: stack.temporalAddress };
  worker = await createWorker({
    temporalAddress: stack.temporalAddress,
    namespace: stack.namespace,
    taskQueue,
    jupyter: { url: jupyter.url, token: jupyter.token },
    allow: { images: [image], mounts: [shared], env: ['GREETING', 'DB_PASSWORD', 'UNSET_ON_WORKER'] },
    placementsDir: placementsDir(stateDir),
    orphanReaper: false,
  });
  running = worker.run();
  client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }), namespace: stack.namespace });
  cliEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.namespace,
    MILLRACE_TASK_QUEUE: taskQueue,
    MILLRACE_STORE: config.storeRoot,
    MILLRACE_HOME: stateDir,
  };
}, 120_000);

afterAll(async () => {
  worker?.worker.shutdown();
  await running;
  await client?.connection.close();
  await jupyter?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Names of this server's kernel containers, running or not. */
async function containers(which: 'all' | 'running' = 'all'): Promise<string[]> {
  const filter = which === 'all' ? ['--all'] : ['--filter', 'status=running'];
  const { stdout } = await podman(['ps', ...filter, '--filter', `label=millrace.placements=${placementsDir(stateDir)}`, '--format', '{{.Names}}']);
  return stdout.split('\n').filter(Boolean);
}

/** A folder in the allowed one that the container's user (not root) can write to. */
async function writableFolder(name: string): Promise<string> {
  const folder = join(shared, name);
  await mkdir(folder);
  await chmod(folder, 0o777);
  return folder;
}

async function writeNotebook(name: string, nb: NotebookJson): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(nb));
  return path;
}

type Extra = { cellTimeoutS?: number; checkpoint?: boolean; onKernelLoss?: 'fail' | 'restart'; taskQueue?: string };

async function start(path: string, placement: KernelPlacement | undefined, { taskQueue, ...extra }: Extra = {}) {
  const params = await resolveParameters({ parameters: [], raw: [], files: [], yaml: [] });
  const input = await buildRunInput(config, { notebookPath: path, params, ...(placement ? { placement } : {}), ...extra });
  const handle = await client.workflow.start('notebookRun', {
    taskQueue: taskQueue ?? config.taskQueue,
    workflowId: input.runId,
    args: [input],
    memo: { notebook: basename(path), output: input.output },
  });
  return { input, handle };
}

async function run(path: string, placement: KernelPlacement | undefined, extra: Extra = {}) {
  const { input, handle } = await start(path, placement, extra);
  let result: RunResult | undefined;
  let error: WorkflowFailedError | undefined;
  try {
    result = (await handle.result()) as RunResult;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    error = err;
  }
  const output = existsSync(input.output) ? JSON.parse(await readFile(input.output, 'utf8')) : undefined;
  return { input, result, error, output };
}

/** startKernel's result in the run's history: the kernel the run got. */
async function startedKernelId(runId: string): Promise<string> {
  const history = await client.workflow.getHandle(runId).fetchHistory();
  const started = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel');
  const completed = history.events!.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === started!.eventId!.toString());
  return JSON.parse(Buffer.from(completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString('utf8')).kernel.kernelId;
}

/** When podman created a kernel's container (the container is gone after its run: asked while it runs). */
async function containerCreated(kernelId: string): Promise<number> {
  const { stdout } = await podman(['inspect', '--format', '{{.Created.UnixNano}}', `millrace-kernel-${kernelId}`]);
  return Number(BigInt(stdout.trim()) / 1_000_000n);
}

/** Every payload in a history, decoded: what `temporal workflow show` would print of it. */
function payloadTexts(history: unknown): string {
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
    else if (typeof value === 'string') out.push(value);
  };
  walk(history);
  return out.join('\n');
}

const LIMITS = `
import os, sys
def first(*paths):
    for p in paths:
        if os.path.exists(p):
            return open(p).read().strip()
print(sys.executable)
print(first('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'))
cpu = first('/sys/fs/cgroup/cpu.max')
print(cpu if cpu else first('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') + ' ' + first('/sys/fs/cgroup/cpu/cpu.cfs_period_us'))
`;

describe('container kernels', () => {
  it("runs the kernel in the image, with the run's limits, variables and mounts only", async () => {
    const path = await writeNotebook('inside.ipynb', notebook([
      codeCell(LIMITS),
      codeCell('import os\nprint(os.environ.get("GREETING"), "JUPYTER_RUNTIME_DIR" in os.environ, os.getcwd())'),
      // The worker's state (Jupyter's token and connection files, the store) is not there.
      codeCell(`import os\nprint(os.path.exists(${JSON.stringify(stateDir)}), os.path.exists(${JSON.stringify(config.storeRoot)}))`),
      codeCell('print(open("/data/input.txt").read().strip())\ntry:\n    open("/data/out.txt", "w")\nexcept OSError as e:\n    print("read-only:", e.errno)'),
    ]));
    const r = await run(path, { image, cpus: 0.5, memory: '256m', env: { GREETING: 'hello' }, mounts: [`${shared}:/data:ro`] });
    expect(r.error?.cause?.message).toBeUndefined();
    const [executable, memory, cpu] = streamText(r.output.cells[0]).trim().split('\n');
    // The image's interpreter (docker/kernel's venv), not the host's.
    expect(executable).toBe('/opt/kernel/bin/python3');
    expect(memory).toBe(String(256 * 1024 * 1024));
    // cgroup v2's cpu.max, or v1's quota and period: the same numbers.
    expect(cpu).toBe('50000 100000');
    // Only the allowed variable; the server's own environment stays out; the image's WORKDIR.
    expect(streamText(r.output.cells[1])).toBe('hello False /home/kernel\n');
    expect(streamText(r.output.cells[2])).toBe('False False\n');
    expect(streamText(r.output.cells[3])).toBe('from the host\nread-only: 30\n');
    // Recorded, variable names only.
    // Where it ran (recorded at start), and which interpreter it was (at the end): the image's.
    expect(r.output.metadata.millrace.kernel).toEqual({
      image,
      cpus: 0.5,
      memory: '256m',
      env_names: ['GREETING'],
      mounts: [`${shared}:/data:ro`],
      name: 'python3',
      python: expect.stringMatching(/^\/opt\/kernel\/bin\/python/),
      python_version: expect.any(String),
    });
    expect(JSON.stringify(r.output.metadata)).not.toContain('hello');
    expect(r.output.metadata.millrace.cwd).toBeUndefined();
    // And shown.
    const show = await runCli(['show', r.input.runId], cliEnv);
    const where = `${image}, 0.5 CPUs, 256m, env GREETING, mount ${shared}:/data:ro`;
    expect(show.stdout).toContain(`image:    ${where}\n`);
    // The inspector's Run header, from what it loads of the run ...
    const detail = await temporalSource(client).loadRun(r.input.runId);
    expect(runHeader(detail, new Date()).find((f) => f.label === 'image')?.value).toBe(where);
    // ... and the viewer's page of the record.
    const page = await renderNotebookPage(parseNotebook(await readFile(r.input.output, 'utf8'), r.input.output), { path: 'x.ipynb', contentsHref: '/c', rawHref: '/r', exportHref: '/e' });
    expect(page).toContain(`<dt>image</dt><dd class="placement">${where}</dd>`);
    // The container is gone once the run is over.
    await waitFor('the container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it("gives the kernel the worker's own value of --env NAME, which stays out of history and the record", async () => {
    // The worker's environment (this process's, set after the CLI's environment was copied).
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    process.env['DB_PASSWORD'] = secret;
    try {
      const marks = await writableFolder('secret');
      const path = await writeNotebook('secret.ipynb', notebook([
        // Waits while the test looks at the host's processes.
        codeCell('import os, time\nopen("/marks/started", "w").close()\nwhile not os.path.exists("/marks/looked"):\n    time.sleep(0.05)'),
        codeCell('import hashlib, os\nprint(hashlib.sha256(os.environ["DB_PASSWORD"].encode()).hexdigest(), os.environ["GREETING"])'),
      ]));
      expect(cliEnv['DB_PASSWORD']).toBeUndefined();
      const cliRun = runCli(['run', path, '--image', image, '--env', 'DB_PASSWORD', '--env', 'GREETING=hi', '--mount', `${marks}:/marks`, '--json'], cliEnv);
      await waitFor('the kernel to start', async () => (existsSync(join(marks, 'started')) ? true : undefined));
      // Not on any command line of the host (podman's client runs as long as the kernel).
      const commandLines = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      });
      expect(commandLines.some((c) => c.includes('millrace-kernel-'))).toBe(true);
      expect(commandLines.filter((c) => c.includes(secret))).toEqual([]);
      await writeFile(join(marks, 'looked'), '');
      const cli = await cliRun;
      expect(cli.code, cli.stderr).toBe(0);
      // No warning: nothing secret was given a value on the command line.
      expect(cli.stderr).not.toContain('warning');
      const { run_id: runId, output } = JSON.parse(cli.stdout);
      const record = await readFile(output, 'utf8');
      expect(streamText(JSON.parse(record).cells[1])).toBe(`${createHash('sha256').update(secret).digest('hex')} hi\n`);
      expect(JSON.parse(record).metadata.millrace.kernel).toMatchObject({ image, env_names: ['DB_PASSWORD', 'GREETING'], mounts: [`${marks}:/marks`] });
      // Nowhere in the record, the decoded history, or what is left in the placements folder.
      expect(record).not.toContain(secret);
      const history = await client.workflow.getHandle(runId).fetchHistory();
      const decoded = payloadTexts(history);
      expect(decoded).toContain('"workerEnv":["DB_PASSWORD"]');
      expect(decoded).not.toContain(secret);
      await waitFor('the container removed', async () => ((await containers()).length === 0 ? true : undefined));
      const left = existsSync(placementsDir(stateDir)) ? await readdir(placementsDir(stateDir)) : [];
      for (const file of left) expect(await readFile(join(placementsDir(stateDir), file), 'utf8')).not.toContain(secret);
      // A name the worker allows but has no value for: refused before anything starts.
      const unset = await runCli(['run', path, '--image', image, '--env', 'UNSET_ON_WORKER'], cliEnv);
      expect(unset.code).toBe(1);
      expect(unset.stderr).toContain(`environment variable "UNSET_ON_WORKER" is not set on this worker (--env UNSET_ON_WORKER gives the kernel the worker's own value)`);
    } finally {
      delete process.env['DB_PASSWORD'];
    }
  });

  it('takes the placement from the notebook metadata, the command line winning', async () => {
    const nb = notebook([codeCell(LIMITS)]);
    (nb.metadata as Record<string, unknown>)['millrace'] = { kernel: { image, memory: '128m', cpus: 1 } };
    const path = await writeNotebook('metadata.ipynb', nb);
    const r = await run(path, { memory: '192m' });
    expect(r.error?.cause?.message).toBeUndefined();
    const [executable, memory, cpu] = streamText(r.output.cells[0]).trim().split('\n');
    expect(executable).toBe('/opt/kernel/bin/python3');
    expect(memory).toBe(String(192 * 1024 * 1024));
    expect(cpu).toBe('100000 100000');
  });

  it('runs a scheduled run in the container the schedule names', async () => {
    const path = await writeNotebook('scheduled.ipynb', notebook([codeCell('import sys\nprint(sys.executable)')]));
    const name = `boxed-${randomBytes(3).toString('hex')}`;
    const made = await runCli(['schedule', 'create', name, path, '--every', '24h', '--image', image, '--memory', '300m', '--json'], cliEnv);
    expect(made.code, made.stderr).toBe(0);
    try {
      const trig = await runCli(['schedule', 'trigger', name, '--json'], cliEnv);
      expect(trig.code, trig.stderr).toBe(0);
      const { run_id: runId, output } = JSON.parse(trig.stdout);
      await client.workflow.getHandle(runId).result();
      const nb = JSON.parse(await readFile(output, 'utf8'));
      expect(streamText(nb.cells[0])).toBe('/opt/kernel/bin/python3\n');
      expect(nb.metadata.millrace.kernel).toEqual({ image, memory: '300m', name: 'python3', python: expect.stringMatching(/^\/opt\/kernel\/bin\/python/), python_version: expect.any(String) });
    } finally {
      await client.schedule.getHandle(`millrace-schedule-${name}`).delete().catch(() => undefined);
    }
  });

  it('refuses an image, a mount or a variable the worker does not allow, before anything starts', async () => {
    const path = await writeNotebook('refused.ipynb', notebook([codeCell('print(1)')]));
    const cases: Array<[KernelPlacement, string]> = [
      [{ image: 'docker.io/library/python:3.11-slim' }, 'image "docker.io/library/python:3.11-slim" is not allowed on this worker (allow it with: millrace worker --allow-image docker.io/library/python:3.11-slim)'],
      [{ image, mounts: ['/etc:/etc2'] }, 'mount source "/etc" is not allowed on this worker (allow it with: millrace worker --allow-mount /etc)'],
      [{ image, mounts: [`${shared}/../state:/x`] }, `mount source "${shared}/../state" is not allowed on this worker (allow it with: millrace worker --allow-mount ${shared}/../state)`],
      [{ image, env: { AWS_SECRET_ACCESS_KEY: 'x' } }, 'environment variable "AWS_SECRET_ACCESS_KEY" is not allowed on this worker (allow it with: millrace worker --allow-env AWS_SECRET_ACCESS_KEY)'],
      [{ memory: '1g' }, '--cpus, --memory, --env and --mount place the kernel in a container: choose its image with --image'],
    ];
    await waitFor('earlier containers removed', async () => ((await containers()).length === 0 ? true : undefined));
    for (const [placement, message] of cases) {
      const r = await run(path, placement);
      expect(failureMessage(r.error)).toBe(message);
      // Nothing started: no record, no kernel, no container.
      expect(r.output).toBeUndefined();
      const sessions = await SessionAPI.listRunning(serverSettings(jupyter));
      expect(sessions.map((x) => x.path)).not.toContain(`millrace/${r.input.runId}`);
      expect(await containers()).toEqual([]);
    }
    // The command line says it in one line.
    const cli = await runCli(['run', path, '--image', 'not-allowed:1'], cliEnv);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('image "not-allowed:1" is not allowed on this worker');
    const badMount = await runCli(['run', path, '--image', image, '--mount', 'relative:/x'], cliEnv);
    expect(badMount.code).not.toBe(0);
    expect(badMount.stderr).toContain('--mount relative:/x: both paths must be absolute');
  });

  it('keeps the outcome registry and saves checkpoints in a container (both go over the Jupyter protocol)', async () => {
    const path = await writeNotebook('checkpointed.ipynb', notebook([codeCell('x = 41'), codeCell('print(x + 1)')]));
    const r = await run(path, { image }, { checkpoint: true });
    expect(r.error?.cause?.message).toBeUndefined();
    expect(streamText(r.output.cells[1])).toBe('42\n');
    // startKernel found the registry installed: cells may run exactly once across worker crashes.
    const history = await client.workflow.getHandle(r.input.runId).fetchHistory();
    const started = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel');
    const completed = history.events!.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === started!.eventId!.toString());
    const result = JSON.parse(Buffer.from(completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString('utf8'));
    expect(result.kernel.outcomeRegistry).toBe(true);
    const saved = await readdir(join(config.storeRoot, 'runs', r.input.runId, 'checkpoints'));
    expect(saved).toEqual(expect.arrayContaining(['cell-0.dill', 'cell-1.dill']));
  });

  it('runs each cell exactly once in the container when the worker is SIGKILLed mid-cell', async () => {
    // `millrace worker` processes on a task queue of their own, on the same Jupyter Server.
    const taskQueue = `killed-${randomBytes(4).toString('hex')}`;
    const nb = await runAcrossSigkill({
      writeNotebook,
      workerEnv: { ...cliEnv, MILLRACE_TASK_QUEUE: taskQueue, MILLRACE_JUPYTER_URL: jupyter.url, MILLRACE_JUPYTER_TOKEN: jupyter.token, MILLRACE_ALLOW_IMAGES: image },
      start: async (path) => {
        const { input, handle } = await start(path, { image }, { taskQueue });
        return { output: input.output, result: () => handle.result() };
      },
    });
    // The side effect, written in the container: each cell once.
    expect(streamText(nb.cells[3])).toBe('cell 0\ncell 1\ncell 2\n');
    expect(nb.cells[1].metadata.millrace.recovered).toBe(true);
    await waitFor('the container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it('interrupts a cell in the container at --cell-timeout', async () => {
    // The kernel says so in a file on a mount (the record keeps the timeout's error only).
    const marks = await writableFolder('marks');
    const path = await writeNotebook('slow.ipynb', notebook([
      codeCell('import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    open("/marks/interrupted", "w").write("yes")\n    raise'),
      codeCell('print("never")'),
    ]));
    const r = await run(path, { image, mounts: [`${marks}:/marks`] }, { cellTimeoutS: 3 });
    expect(r.error?.cause?.message).toBe('cell 0 failed: CellTimeoutError: Cell execution timed out after 3 s');
    expect(await readFile(join(marks, 'interrupted'), 'utf8')).toBe('yes');
    await waitFor('the container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it('replaces a kernel that died with a new container (--on-kernel-loss restart)', async () => {
    const marks = await writableFolder('restart');
    const path = await writeNotebook('dies.ipynb', notebook([
      codeCell('open("/marks/setup", "a").write("setup\\n")'),
      codeCell('import os\nif not os.path.exists("/marks/died"):\n    open("/marks/died", "w").close()\n    os._exit(1)\nprint("survived")'),
    ]));
    const r = await run(path, { image, mounts: [`${marks}:/marks`] }, { onKernelLoss: 'restart' });
    expect(r.error?.cause?.message).toBeUndefined();
    expect(streamText(r.output.cells[1])).toBe('survived\n');
    // The first cell ran again in the new kernel's container.
    expect(await readFile(join(marks, 'setup'), 'utf8')).toBe('setup\nsetup\n');
    expect(r.output.metadata.millrace.kernel_restarts).toMatchObject([{ lost_at_cell: 1, replayed_cells: [0] }]);
    await waitFor('the containers removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it("gives each kernel a network of its own: nothing on the host's 127.0.0.1 but its published ports", async () => {
    // Run A's kernel leaves its ports on a shared mount and waits; run B's kernel tries
    // them, the Temporal dev server's and the Jupyter Server's. On the host's network it
    // would reach them all.
    const marks = await writableFolder('network');
    const first = await writeNotebook('listener.ipynb', notebook([
      codeCell('import json, time\nc = json.load(open("/run/millrace/connection.json"))\njson.dump([c["shell_port"], c["hb_port"]], open("/marks/ports.tmp", "w"))\nimport os; os.rename("/marks/ports.tmp", "/marks/ports.json")\nprint("listening", flush=True)\ntime.sleep(600)'),
    ]));
    const a = await start(first, { image, mounts: [`${marks}:/marks`] });
    await waitForSavedOutput(a.input.output, 0, 'listening');
    const [shell, hb] = JSON.parse(await readFile(join(marks, 'ports.json'), 'utf8')) as number[];
    const temporalPort = Number(new URL(`tcp://${inject('stack').temporalAddress}`).port);
    const jupyterPort = Number(new URL(jupyter.url).port);
    const targets = { temporal: temporalPort, jupyter: jupyterPort, other_shell: shell, other_hb: hb };
    const second = await writeNotebook('prober.ipynb', notebook([
      codeCell(`import socket
def reach(host, port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); return "reached"
    except OSError:
        return "unreachable"
    finally:
        s.close()
for name, port in ${JSON.stringify(Object.entries(targets))}:
    # The host's loopback by its name, and through slirp4netns's gateway to it.
    print(name, reach("127.0.0.1", port), reach("10.0.2.2", port))`),
      codeCell('print(6 * 7)'),
    ]));
    const b = await run(second, { image });
    await a.handle.cancel();
    await a.handle.result().catch(() => undefined);
    expect(b.error?.cause?.message).toBeUndefined();
    expect(streamText(b.output.cells[0])).toBe(Object.keys(targets).map((name) => `${name} unreachable unreachable\n`).join(''));
    expect(streamText(b.output.cells[1])).toBe('42\n');
    await waitFor('the containers removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it('removes the container when the run is cancelled', async () => {
    const path = await writeNotebook('cancelled.ipynb', notebook([codeCell('import time\nprint("started", flush=True)\ntime.sleep(600)')]));
    const { input, handle } = await start(path, { image });
    await waitForSavedOutput(input.output, 0, 'started');
    expect((await containers()).length).toBe(1);
    await handle.cancel();
    await handle.result().catch(() => undefined);
    await waitFor('the container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it("removes the container of a kernel whose Jupyter Server was killed with its worker", async () => {
    // A server of its own, whose kernel container outlives it (SIGKILL: no shutdown).
    const other = await startJupyterServer({ stateDir });
    const settings = serverSettings(other);
    const dirOfPlacements = placementsDir(stateDir);
    await mkdir(dirOfPlacements, { recursive: true });
    await writeFile(join(dirOfPlacements, 'orphan-run.json'), JSON.stringify({ image }));
    // The session name is the run id, as the worker starts kernels (activities/jupyter.ts).
    const session = await SessionAPI.startSession({ path: 'millrace/orphan-run', name: 'orphan-run', type: 'notebook', kernel: { name: 'python3' } }, settings);
    const name = `millrace-kernel-${session.kernel!.id}`;
    await waitFor('the kernel container', async () => ((await containers('running')).includes(name) ? true : undefined));
    // The crash: the server and the kernel's podman client die at once, without a word.
    const { stdout } = await exec('pgrep', ['-f', `podman run .*--name ${name}`]);
    process.kill(other.pid, 'SIGKILL');
    for (const pid of stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    // Still running: nothing shut the kernel down.
    expect(await containers('running')).toEqual([name]);
    // The reaper of the server that replaced it (here, this test's) removes it.
    const removed = await reapOrphanContainers({ settings: serverSettings(jupyter), graceMs: 0, placementsDir: dirOfPlacements });
    expect(removed).toEqual([name]);
    expect(await containers()).toEqual([]);
    await other.stop();
  });

  // A one-shot `millrace run --image` starts its run's container while Temporal comes up (cli/environment.ts).
  it('starts one container early for a one-shot run: taken by a run of its shape only, never by another', async () => {
    const settings = serverSettings({ url: jupyter.url, token: jupyter.token });
    const shape: KernelPlacement = { image, cpus: 0.5, memory: '200m', env: { GREETING: 'early' } };
    const pool = new KernelPool(settings, 0, undefined, placementsDir(stateDir));
    try {
      pool.prestart('python3', shape);
      // Another shape waits for nothing and gets nothing.
      expect(await pool.take('python3', 'early-other', { ...shape, env: { GREETING: 'late' } })).toBeUndefined();
      const kernel = await pool.take('python3', 'early-run', shape);
      expect(kernel).toBeDefined();
      expect(await containers('running')).toContain(`millrace-kernel-${kernel!.model.id}`);
      const sessions = await SessionAPI.listRunning(settings);
      expect(sessions.find((s) => s.kernel?.id === kernel!.model.id)?.path).toBe('millrace/early-run');
      expect(await pool.take('python3', 'early-run-2', shape)).toBeUndefined();
      await shutdownKernel(settings, kernel!.model.id);
    } finally {
      await pool.stop();
    }
    await waitFor('every container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it("restarts a container kernel in a new container of the same placement (Jupyter's restart)", async () => {
    const settings = serverSettings({ url: jupyter.url, token: jupyter.token });
    const kernel = await startPlacedKernel(settings, 'python3', `restart-${randomBytes(3).toString('hex')}`, { placement: { image, memory: '200m', env: { GREETING: 'again' } }, placementsDir: placementsDir(stateDir) });
    const ask = async (code: string) => {
      const reply = await silentExecute(kernel.connection, '', { purpose: 'test', expressions: { out: code } });
      return reply.status === 'ok' ? (reply.user_expressions['out'] as { data?: Record<string, string> } | undefined)?.data?.['text/plain'] : undefined;
    };
    const memory = "open('/sys/fs/cgroup/memory.max').read().strip() if __import__('os').path.exists('/sys/fs/cgroup/memory.max') else open('/sys/fs/cgroup/memory/memory.limit_in_bytes').read().strip()";
    try {
      await ask('globals().__setitem__("before_restart", 1)');
      const name = `millrace-kernel-${kernel.model.id}`;
      const created = await containerCreated(kernel.model.id);
      await kernel.connection.restart();
      // A new container under the same name (the kernel id stays), with the run's limits and variables; a fresh namespace.
      // podman creates it once Jupyter's restart has spawned the client: waited for.
      await waitFor('the new container', async () => ((await containerCreated(kernel.model.id).catch(() => 0)) > created ? true : undefined));
      expect(await containers('running')).toEqual([name]);
      expect(await ask(`(__import__('os').environ.get('GREETING'), __import__('os').environ.get('MILLRACE_CONTAINER'), ${memory}, 'before_restart' in globals())`)).toBe(
        `('again', 'podman', '${200 * 1024 * 1024}', False)`,
      );
    } finally {
      kernel.connection.dispose();
      await shutdownKernel(settings, kernel.model.id);
    }
    await waitFor('the container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });

  it('starts a run in a warm container of the same shape (--kernel-pool), never one of another shape, and removes the pooled ones at shutdown', async () => {
    // A second worker on its own task queue, with a pool, on the same Jupyter Server.
    const taskQueue = `pool-${randomBytes(4).toString('hex')}`;
    const stack = inject('stack');
    const pooling = await createWorker({
      temporalAddress: stack.temporalAddress,
      namespace: stack.namespace,
      taskQueue,
      jupyter: { url: jupyter.url, token: jupyter.token },
      allow: { images: [image], mounts: [shared], env: ['GREETING'] },
      placementsDir: placementsDir(stateDir),
      orphanReaper: false,
      kernelPool: 1,
    });
    const stopped = pooling.run();
    const shape: KernelPlacement = { image, cpus: 0.5, memory: '200m', env: { GREETING: 'warm' } };
    let idle: string[] = [];
    try {
      // The kernel waits until the test has looked at its container (gone after the run).
      const marks = await writableFolder('pool');
      const nb = notebook([
        codeCell('import os, time\nwhile not os.path.exists("/marks/" + os.environ["GREETING"] + "-seen"):\n    time.sleep(0.05)'),
        codeCell('import os\nprint(os.environ["GREETING"], open("/sys/fs/cgroup/memory.max").read().strip() if os.path.exists("/sys/fs/cgroup/memory.max") else open("/sys/fs/cgroup/memory/memory.limit_in_bytes").read().strip())'),
      ]);
      const path = await writeNotebook('pooled.ipynb', nb);
      const placed = { ...shape, mounts: [`${marks}:/marks`] };
      // The first run of a shape starts its own container; the pool fills for that shape.
      const see = async (kernelId: string, greeting: string) => {
        const created = await waitFor('the run\'s container', () => containerCreated(kernelId));
        await writeFile(join(marks, `${greeting}-seen`), '');
        return created;
      };
      const first = await start(path, placed, { taskQueue });
      await waitFor('the first kernel', () => startedKernelId(first.input.runId));
      await see(await startedKernelId(first.input.runId), 'warm');
      expect((await first.handle.result()).status).toBe('completed');
      await rm(join(marks, 'warm-seen'));
      idle = await waitFor('a warm container of that shape', async () => {
        const ids = pooling.kernelPool!.idleKernelIds('python3', placed);
        return ids.length === 1 ? ids : undefined;
      });
      expect(await containers('running')).toContain(`millrace-kernel-${idle[0]}`);

      // The second run of the same shape gets it: its container was created before the run was submitted.
      const submitted = Date.now();
      const second = await start(path, placed, { taskQueue });
      const secondKernel = await waitFor('the second kernel', () => startedKernelId(second.input.runId));
      expect(secondKernel).toBe(idle[0]);
      expect(await see(secondKernel, 'warm')).toBeLessThan(submitted);
      await second.handle.result();
      const out = JSON.parse(await readFile(second.input.output, 'utf8'));
      expect(streamText(out.cells[1])).toBe(`warm ${200 * 1024 * 1024}\n`);
      // Used once: shut down with its run, and replaced by another warm container.
      await waitFor('the used container removed', async () => ((await containers()).includes(`millrace-kernel-${secondKernel}`) ? undefined : true));
      idle = await waitFor('a replacement', async () => {
        const ids = pooling.kernelPool!.idleKernelIds('python3', placed);
        return ids.length === 1 && ids[0] !== secondKernel ? ids : undefined;
      });

      // Another shape (another value of a variable) gets none of them: a container of its own.
      const otherShape = { ...placed, env: { GREETING: 'cold' } };
      const before = Date.now();
      const third = await start(path, otherShape, { taskQueue });
      const thirdKernel = await waitFor('the third kernel', () => startedKernelId(third.input.runId));
      expect(thirdKernel).not.toBe(idle[0]);
      expect(await see(thirdKernel, 'cold')).toBeGreaterThanOrEqual(before);
      await third.handle.result();
      expect(streamText(JSON.parse(await readFile(third.input.output, 'utf8')).cells[1])).toMatch(/^cold /);
      idle = [...pooling.kernelPool!.idleKernelIds('python3', placed), ...pooling.kernelPool!.idleKernelIds('python3', otherShape)];
      await waitFor('a warm container of the other shape too', async () => (pooling.kernelPool!.idleKernelIds('python3', otherShape).length === 1 ? true : undefined));
      idle = [...pooling.kernelPool!.idleKernelIds('python3', placed), ...pooling.kernelPool!.idleKernelIds('python3', otherShape)];
      expect(idle.length).toBe(2);
    } finally {
      pooling.worker.shutdown();
      await stopped;
    }
    // The worker's shutdown removed its warm containers.
    const left = await containers();
    for (const id of idle) expect(left).not.toContain(`millrace-kernel-${id}`);
    await waitFor('every container removed', async () => ((await containers()).length === 0 ? true : undefined));
  });
});
