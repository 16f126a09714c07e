/**
 * The same runs on each backend a worker reaches kernels through (docs/kernels.md,
 * "Choosing a backend"): millrace's own Jupyter Server (process kernels) and Jupyter
 * Kernel Gateway 3 reached as a remote Jupyter server. Then what a gateway that refuses to
 * list its kernels (Kernel Gateway's default) still does, and what it cannot.
 */
import { KernelAPI, SessionAPI } from '@jupyterlab/services';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSettings, type JupyterConfig } from '../../activities/jupyter.js';
import { startKernelGateway, type KernelGateway } from '../../bench/kernel-gateway.js';
import { buildRunInput } from '../../cli/submit.js';
import { ListingRefusedError, reapOrphanKernels } from '../../worker/orphans.js';
import { packageRoot } from '../../worker/paths.js';
import type { RunProgress } from '../../workflows/contracts.js';
import { codeCell, exited, notebook, startHarness, startWorkerProcess, streamText, waitFor, waitForSavedOutput, type Harness } from './harness.js';
import { expectQuickerNudge } from './kernel-probes.js';

interface Backend {
  jupyter: JupyterConfig;
  stop(): Promise<void>;
}

const backends: Array<{ name: string; start(dir: string): Promise<Backend> }> = [
  {
    name: 'process',
    start: async () => {
      const stack = inject('stack');
      return { jupyter: { url: stack.jupyterUrl, token: stack.jupyterToken }, stop: async () => undefined };
    },
  },
  ...(['kernel-gateway', 'enterprise-gateway'] as const).map((kind) => ({
    name: kind,
    start: async (dir: string) => {
      const gateway = await startKernelGateway({ stateDir: dir, kind });
      return { jupyter: { url: gateway.url, token: gateway.token }, stop: () => gateway.stop() };
    },
  })),
];

const joined = (text: string | string[]) => (Array.isArray(text) ? text.join('') : text);
const lines = async (path: string) => (await readFile(path, 'utf8').catch(() => '')).split('\n').filter(Boolean);

/** Starts a run of `path` on the harness's worker and waits until cell 0 is running. */
async function startedRun(h: Harness, path: string) {
  const input = await buildRunInput(h.config, { notebookPath: path, params: {} });
  const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] });
  await waitFor('cell 0 to be running', async () => ((await handle.query<RunProgress>('progress')).cells[0]?.status === 'running' ? true : undefined));
  return { input, handle };
}

describe.each(backends)('on the $name backend', ({ name, start }) => {
  let dir: string;
  let backend: Backend;
  let h: Harness;
  const settings = () => serverSettings(backend.jupyter);
  const liveKernelIds = async () => (await KernelAPI.listRunning(settings())).map((k) => k.id);
  /** Kernels started since `before` that are still running once none is (or after 15 s). */
  const kernelsLeftSince = async (before: string[]) => {
    const started = async () => (await liveKernelIds()).filter((id) => !before.includes(id));
    return waitFor('the run\'s kernels to be shut down', async () => ((await started()).length ? undefined : []), 15_000).catch(started);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'millrace-backend-'));
    backend = await start(dir);
    h = await startHarness({ jupyter: backend.jupyter });
  });
  afterAll(async () => {
    await h?.close();
    await backend?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('completes a run with its outputs', async () => {
    const path = await h.writeNotebook(
      'outputs.ipynb',
      notebook([
        codeCell('import sys\nprint("hello")\nprint("to stderr", file=sys.stderr)'),
        codeCell('from IPython.display import HTML, display\ndisplay(HTML("<b>bold</b>"))\n6 * 7'),
      ]),
    );
    const before = await liveKernelIds();
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(run.output.metadata['millrace']['status']).toBe('completed');
    expect(streamText(run.output.cells[0]!)).toBe('hello\n');
    expect(streamText(run.output.cells[0]!, 'stderr')).toBe('to stderr\n');
    const [display, result] = run.output.cells[1]!['outputs'];
    expect(display).toMatchObject({ output_type: 'display_data' });
    expect(joined(display.data['text/html'])).toBe('<b>bold</b>');
    expect(result).toMatchObject({ output_type: 'execute_result' });
    expect(joined(result.data['text/plain'])).toBe('42');
    expect(await kernelsLeftSince(before)).toEqual([]);
  });

  // The process backend's kernels are checked in test/e2e/stack.test.ts.
  if (name === 'kernel-gateway' || name === 'enterprise-gateway') {
    it('asks a new kernel again within the first half second while a new websocket waits for its first contact (worker/kernel_nudge.py)', async () => {
      await expectQuickerNudge(settings(), async (stateDir) => {
        const gateway = await startKernelGateway({ stateDir, kind: name, env: { MILLRACE_JUPYTER_QUICK_NUDGE: '0' } });
        return { settings: serverSettings({ url: gateway.url, token: gateway.token }), stop: () => gateway.stop() };
      });
    });
  }

  // Enterprise Gateway's own launcher chooses its kernels' ports, in a process per kernel.
  if (name === 'kernel-gateway') {
    it('gives kernels ports below the ephemeral range, where no outgoing connection takes one before the kernel binds it (worker/kernel_ports.py)', async () => {
      const [ephemeralLow] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
      const names = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'];
      const code = `import json; from ipykernel.kernelapp import IPKernelApp; app = IPKernelApp.instance(); print(json.dumps([getattr(app, n) for n in ${JSON.stringify(names)}]))`;
      // Two runs at once: two kernels alive together, whose ports the gateway must not give twice.
      const runs = await Promise.all(['a', 'b'].map(async (n) => h.runNotebook(await h.writeNotebook(`ports-${n}.ipynb`, notebook([codeCell(code), codeCell('import time; time.sleep(1)')])))));
      const ports = runs.flatMap((run) => {
        expect(run.error).toBeUndefined();
        return JSON.parse(streamText(run.output.cells[0]!)) as number[];
      });
      expect(ports).toHaveLength(10);
      expect(new Set(ports).size).toBe(10);
      for (const port of ports) {
        expect(port).toBeGreaterThanOrEqual(10000);
        expect(port).toBeLessThan(ephemeralLow!);
      }
    });
  }

  it('fails a run at a failing cell, with its traceback, and runs no cell after it', async () => {
    const path = await h.writeNotebook('fails.ipynb', notebook([codeCell('x = 1'), codeCell('def f():\n    raise ValueError("bad input")\nf()'), codeCell('print("never")')]));
    const run = await h.runNotebook(path);
    expect(run.error?.cause?.message).toBe('cell 1 failed: ValueError: bad input');
    const failed = run.output.cells.filter((c) => c['cell_type'] === 'code')[1]!;
    expect(failed['metadata']['papermill']['status']).toBe('failed');
    const error = failed['outputs'].at(-1);
    expect(error).toMatchObject({ output_type: 'error', ename: 'ValueError', evalue: 'bad input' });
    expect(error.traceback.join('\n')).toContain('f()');
    expect(run.output.cells.filter((c) => c['cell_type'] === 'code')[2]!['outputs']).toEqual([]);
  });

  it('cancels: the running cell is interrupted, the kernel shut down, the record says cancelled', async () => {
    const flag = join(h.dir, `interrupted-${randomBytes(3).toString('hex')}`);
    const path = await h.writeNotebook(
      'cancel.ipynb',
      notebook([codeCell(`import time\ntry:\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    open(${JSON.stringify(flag)}, "w").write("interrupted")\n    raise`), codeCell('print("never")')]),
    );
    const before = await liveKernelIds();
    const { input, handle } = await startedRun(h, path);
    await handle.cancel();
    const error = await handle.result().then(() => undefined, (err: unknown) => err);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const nb = JSON.parse(await readFile(input.output, 'utf8'));
    expect(nb.metadata.millrace.status).toBe('cancelled');
    expect(nb.cells[0].outputs.at(-1)).toMatchObject({ output_type: 'error', ename: 'RunCancelled' });
    expect(await readFile(flag, 'utf8')).toBe('interrupted');
    expect(await kernelsLeftSince(before)).toEqual([]);
  });

  it('shuts down the kernel of a run that ended without its clean-up', async () => {
    const path = await h.writeNotebook('orphan.ipynb', notebook([codeCell('import time\ntime.sleep(120)')]));
    const before = await liveKernelIds();
    const { handle } = await startedRun(h, path);
    const [kernel] = (await liveKernelIds()).filter((id) => !before.includes(id));
    expect(kernel).toBeDefined();
    // Terminated: no finalize, no shutdownKernel; its kernel is left running.
    await handle.terminate('test: leave an orphan');
    const reaped = await reapOrphanKernels({ settings: settings(), client: h.client, intervalMs: 0, graceMs: 0 });
    expect(reaped).toContain(kernel);
    expect(await KernelAPI.getKernelModel(kernel!, settings())).toBeUndefined();
  });

  it('runs each cell exactly once when the worker is SIGKILLed mid-cell', async () => {
    const side = join(h.dir, `side-${randomBytes(3).toString('hex')}.txt`);
    const cells = [0, 1, 2].map((i) =>
      codeCell(`import time\nprint("start ${i}", flush=True)\ntime.sleep(1.5)\nopen(${JSON.stringify(side)}, "a").write("cell ${i}\\n")`),
    );
    const path = await h.writeNotebook('killed.ipynb', notebook(cells));
    const taskQueue = `killed-${randomBytes(3).toString('hex')}`;
    const before = await liveKernelIds();
    const first = await startWorkerProcess(taskQueue, backend.jupyter);
    let second: ChildProcess | undefined;
    try {
      const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {} });
      const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
      await waitForSavedOutput(input.output, 1, 'start 1');
      first.kill('SIGKILL');
      await exited(first);
      second = await startWorkerProcess(taskQueue, backend.jupyter);
      await handle.result();
      expect(await lines(side)).toEqual(['cell 0', 'cell 1', 'cell 2']);
      const nb = JSON.parse(await readFile(input.output, 'utf8'));
      expect(nb.cells.map((c: { metadata: { papermill: { status: string } } }) => c.metadata.papermill.status)).toEqual(['completed', 'completed', 'completed']);
      expect(nb.cells[1].metadata.millrace.recovered).toBe(true);
      expect(await kernelsLeftSince(before)).toEqual([]);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
      if (second) await exited(second);
    }
  });
});

describe('on a Kernel Gateway that does not list its kernels', () => {
  let dir: string;
  let gateway: KernelGateway;
  let h: Harness;
  const warnings: string[] = [];
  const settings = () => serverSettings(gateway);
  const reaperWarning = () =>
    `the Jupyter server at ${gateway.url}/ refuses to list its kernels (403): kernels of runs that ended without their clean-up ` +
    'are not shut down (on Jupyter Kernel Gateway: start it with --JupyterWebsocketPersonality.list_kernels=True)';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'millrace-backend-'));
    gateway = await startKernelGateway({ stateDir: dir, listKernels: false });
    h = await startHarness({ jupyter: { url: gateway.url, token: gateway.token }, kernelPool: 1, warn: (line) => warnings.push(line) });
  });
  afterAll(async () => {
    await h?.close();
    await gateway?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs notebooks; its kernel pool turns itself off, since the gateway cannot move a kernel into a run\'s session', async () => {
    await expect(SessionAPI.listRunning(settings())).rejects.toMatchObject({ response: { status: 403 } });
    const path = await h.writeNotebook('pooled.ipynb', notebook([codeCell('print("ran")')]));
    // The pool fills on first demand for a kernel name: the first run starts its own kernel.
    expect((await h.runNotebook(path)).error).toBeUndefined();
    const idle = await waitFor('an idle pooled kernel', async () => h.kernelPool!.idleKernelIds('python3')[0]);
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(streamText(run.output.cells[0]!)).toBe('ran\n');
    // Each once: the reaper's as the worker started, the pool's as it failed to move a kernel.
    expect(warnings).toEqual([
      reaperWarning(),
      `the Jupyter server at ${gateway.url}/ cannot move a kernel's session (500; Jupyter Kernel Gateway cannot): the kernel pool is off, each run starts its own kernel`,
    ]);
    // The pooled kernel was shut down, the run had its own, and no other is pooled.
    expect(await KernelAPI.getKernelModel(idle, settings())).toBeUndefined();
    const history = await h.client.workflow.getHandle(run.input.runId).fetchHistory();
    const started = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'startKernel')!;
    const completed = history.events!.find((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === started.eventId!.toString())!;
    const kernelId = JSON.parse(Buffer.from(completed.activityTaskCompletedEventAttributes!.result!.payloads![0]!.data!).toString('utf8')).kernel.kernelId;
    expect(kernelId).not.toBe(idle);
    // Shut down after the run's result, though nothing can list it.
    await waitFor('the run\'s kernel to be shut down', async () => ((await KernelAPI.getKernelModel(kernelId, settings())) === undefined ? true : undefined), 15_000);
    expect((await h.runNotebook(path)).error).toBeUndefined();
    expect(h.kernelPool!.idleKernelIds('python3')).toEqual([]);
  });

  it('says that its orphan reaper cannot list kernels, once, and keeps working', async () => {
    await expect(reapOrphanKernels({ settings: settings(), client: h.client, intervalMs: 0, graceMs: 0 })).rejects.toThrow(ListingRefusedError);
    const stack = inject('stack');
    const taskQueue = `no-list-${randomBytes(3).toString('hex')}`;
    const worker = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'worker', '--kernel-pool', '0'], {
      env: { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, MILLRACE_TASK_QUEUE: taskQueue, MILLRACE_JUPYTER_URL: gateway.url, MILLRACE_JUPYTER_TOKEN: gateway.token },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    worker.stderr!.on('data', (d) => (stderr += d));
    try {
      const warning = `millrace: warning: ${reaperWarning()}\n`;
      await waitFor('the warning', async () => (stderr.includes(warning) ? true : undefined), 30_000);
      const path = await h.writeNotebook('after-warning.ipynb', notebook([codeCell('print(1 + 1)')]));
      const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {} });
      await h.client.workflow.execute('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
      expect(streamText(JSON.parse(await readFile(input.output, 'utf8')).cells[0])).toBe('2\n');
      expect(stderr.split(warning).length - 1).toBe(1);
      expect(stderr).not.toContain(gateway.token);
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
  });
});
