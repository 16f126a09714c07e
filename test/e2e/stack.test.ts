/**
 * The embedded stack against the real servers: Temporal dev server and Jupyter Server
 * start, answer, authenticate, run a kernel with TCP_NODELAY, stop without leaving a
 * process behind, and Temporal history survives a restart on the same database.
 */
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { KernelAPI, KernelConnection, ServerConnection } from '@jupyterlab/services';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startJupyterServer } from '../../worker/jupyter-server.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { startTemporalServer } from '../../worker/temporal-server.js';
import { waitFor } from './harness.js';
import { executeForStdout, expectQuickerNudge } from './kernel-probes.js';

const NODELAY_LINE = 'millrace: TCP_NODELAY on kernel websocket';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes (its parent has not reaped it yet).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

interface ProcessInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

function processTable(): ProcessInfo[] {
  const table: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      table.push({ pid: Number(entry), ppid, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Live descendants of `ancestor` whose command line matches `pattern`. */
function descendantsMatching(ancestor: number, pattern: RegExp): number[] {
  const table = processTable();
  const parentOf = new Map(table.map((p) => [p.pid, p.ppid]));
  const descends = (pid: number): boolean => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) if (p === ancestor) return true;
    return false;
  };
  return table.filter((p) => pattern.test(p.cmdline) && descends(p.pid)).map((p) => p.pid);
}

function settingsFor(stack: Stack): ServerConnection.ISettings {
  const baseUrl = `${stack.jupyter.url}/`;
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token: stack.jupyter.token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
}

describe('embedded stack', () => {
  let stateDir: string;
  let stack: Stack;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'millrace-stack-'));
    stack = await startStack({ stateDir });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await rm(stateDir, { recursive: true, force: true });
  }, 60_000);

  it('Temporal answers on 127.0.0.1 and knows the namespace', async () => {
    expect(stack.temporalAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const connection = await Connection.connect({ address: stack.temporalAddress });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
      const ns = await connection.workflowService.describeNamespace({ namespace: stack.namespace });
      expect(ns.namespaceInfo?.name).toBe('default');
    } finally {
      await connection.close();
    }
    expect(existsSync(join(stateDir, 'temporal.db'))).toBe(true);
  });

  it('Jupyter answers with the token and refuses without it', async () => {
    expect(stack.jupyter.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ok = await fetch(`${stack.jupyter.url}/api/status`, { headers: { Authorization: `token ${stack.jupyter.token}` } });
    expect(ok.status).toBe(200);
    const anonymous = await fetch(`${stack.jupyter.url}/api/status`);
    expect(anonymous.status).toBe(403);
    const wrong = await fetch(`${stack.jupyter.url}/api/kernels`, { headers: { Authorization: 'token not-the-token' } });
    expect(wrong.status).toBe(403);
  });

  it('keeps the token off the command line and out of the log', () => {
    const pid = stack.jupyterServer.pid;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain(stack.jupyter.token);
    expect(readFileSync(stack.jupyterServer.logPath, 'utf8')).not.toContain(stack.jupyter.token);
  });

  it('runs code in a kernel over a websocket with TCP_NODELAY, without handing it the token', async () => {
    const settings = settingsFor(stack);
    const model = await KernelAPI.startNew({ name: 'python3' }, settings);
    const kernel = new KernelConnection({ model, serverSettings: settings });
    try {
      expect(await executeForStdout(kernel, 'print(6 * 7)')).toBe('42\n');
      expect(await executeForStdout(kernel, 'import os; print("JUPYTER_TOKEN" in os.environ)')).toBe('False\n');
      const log = readFileSync(stack.jupyterServer.logPath, 'utf8');
      expect(log).toContain(`${NODELAY_LINE} (kernel ${model.id})`);
      expect(log).not.toContain(stack.jupyter.token);
    } finally {
      kernel.dispose();
    }
  });

  it("keeps each kernel's activity as Jupyter reports it: busy while a cell runs, idle and later last_activity after (the watcher in worker/jupyter_server_config.py)", async () => {
    const settings = settingsFor(stack);
    const model = await KernelAPI.startNew({ name: 'python3' }, settings);
    const kernel = new KernelConnection({ model, serverSettings: settings });
    const reported = async () => (await KernelAPI.getKernelModel(model.id, settings))!;
    try {
      expect(await executeForStdout(kernel, 'import time')).toBe('');
      const before = await waitFor('the kernel to be idle', async () => ((await reported()).execution_state === 'idle' ? reported() : undefined), 10_000);
      const future = kernel.requestExecute({ code: 'time.sleep(1.5)' });
      // Only the watcher of the kernel's IOPub sets this: nothing else tells Jupyter.
      await waitFor('Jupyter to report the kernel busy', async () => ((await reported()).execution_state === 'busy' ? true : undefined), 1400);
      await future.done;
      const after = await waitFor('the kernel to be idle again', async () => ((await reported()).execution_state === 'idle' ? reported() : undefined), 10_000);
      expect(Date.parse(after.last_activity!)).toBeGreaterThan(Date.parse(before.last_activity!));
    } finally {
      kernel.dispose();
      await KernelAPI.shutdownKernel(model.id, settings);
    }
  });

  it('asks a kernel again within the first half second while a new websocket waits for its first contact (worker/kernel_nudge.py)', async () => {
    await expectQuickerNudge(settingsFor(stack), async (stateDir) => {
      const server = await startJupyterServer({ stateDir, quickNudge: false });
      return { settings: settingsFor({ jupyter: server } as unknown as Stack), stop: () => server.stop() };
    });
  });

  it('gives kernels ports below the ephemeral range, where no outgoing connection takes one before the kernel binds it (worker/kernel_ports.py)', async () => {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const settings = settingsFor(stack);
    const kernels = await Promise.all([0, 1, 2].map(async () => new KernelConnection({ model: await KernelAPI.startNew({ name: 'python3' }, settings), serverSettings: settings })));
    try {
      const ports = await Promise.all(
        kernels.map(async (kernel) => {
          const names = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'];
          const code = `import json; from ipykernel.kernelapp import IPKernelApp; app = IPKernelApp.instance(); print(json.dumps([getattr(app, n) for n in ${JSON.stringify(names)}]))`;
          return JSON.parse(await executeForStdout(kernel, code)) as number[];
        }),
      );
      const all = ports.flat();
      expect(all).toHaveLength(15);
      expect(new Set(all).size).toBe(15);
      for (const port of all) {
        expect(port).toBeGreaterThanOrEqual(10000);
        expect(port).toBeLessThan(ephemeralLow!);
      }
    } finally {
      for (const kernel of kernels) {
        kernel.dispose();
        await KernelAPI.shutdownKernel(kernel.id, settings);
      }
    }
  });

  it('forks Python kernels from a warm process, and user code cannot tell them from launched ones', async () => {
    // What user code can see of how its kernel was started.
    const probe = [
      'import json, os, random, stat, sys',
      'print(json.dumps({"argv0": os.path.basename(sys.argv[0]), "flags": [a for a in sys.argv[1:] if not a.endswith(".json")], "path": sys.path,',
      '  "cwd": os.getcwd(), "env": sorted(os.environ), "main": __name__, "stdin_is_pipe": stat.S_ISFIFO(os.fstat(0).st_mode),',
      '  "leads_session": os.getsid(0) == os.getpid(), "parent_watched": os.environ.get("JPY_PARENT_PID") == str(os.getppid()),',
      '  "random": random.random(), "pid": os.getpid(), "ppid": os.getppid()}))',
    ].join('\n');
    const inspect = async (settings: ServerConnection.ISettings) => {
      const kernel = new KernelConnection({ model: await KernelAPI.startNew({ name: 'python3' }, settings), serverSettings: settings });
      return { kernel, seen: JSON.parse(await executeForStdout(kernel, probe)) };
    };
    const settings = settingsFor(stack);
    const first = await inspect(settings);
    const second = await inspect(settings);
    const usualDir = await mkdtemp(join(tmpdir(), 'millrace-usual-'));
    const usualServer = await startJupyterServer({ stateDir: usualDir, forkKernels: false });
    try {
      const usual = await inspect(settingsFor({ jupyter: usualServer } as unknown as Stack));
      usual.kernel.dispose();
      // Both forked kernels are children of one warm process, itself a child of the server.
      const table = new Map(processTable().map((p) => [p.pid, p]));
      const zygote = table.get(first.seen.ppid)!;
      expect(zygote.cmdline).toContain('kernel_zygote.py');
      expect(zygote.ppid).toBe(stack.jupyterServer.pid);
      expect(second.seen.ppid).toBe(first.seen.ppid);
      expect(usual.seen.ppid).toBe(usualServer.pid);
      // Each kernel draws its own random numbers, as separately started kernels do.
      expect(second.seen.random).not.toBe(first.seen.random);
      // Everything else is what `python -m ipykernel_launcher -f FILE` gives.
      const comparable = (seen: Record<string, unknown>, rootDir: string) => ({
        ...seen,
        cwd: seen['cwd'] === rootDir ? '<root_dir>' : seen['cwd'],
        env: (seen['env'] as string[]).filter((k) => k !== 'MILLRACE_JUPYTER_FORK_KERNELS'),
        random: undefined,
        pid: undefined,
        ppid: undefined,
      });
      expect(comparable(first.seen, join(stateDir, 'jupyter-root'))).toEqual(comparable(usual.seen, join(usualDir, 'jupyter-root')));
      expect(first.seen).toMatchObject({ argv0: 'ipykernel_launcher.py', flags: ['-f', '--HistoryManager.hist_file=:memory:'], stdin_is_pipe: true, leads_session: true, parent_watched: true });
    } finally {
      await usualServer.stop();
      await rm(usualDir, { recursive: true, force: true });
    }

    // Interrupt reaches a forked kernel (SIGINT to its process group) and not the warm process.
    // (Interrupted only once the cell's own code runs, not while the kernel sets it up.)
    const sleeping = first.kernel.requestExecute({ code: 'import time; print("sleeping", flush=True); time.sleep(60)' });
    let printed = false;
    sleeping.onIOPub = (msg) => {
      if (msg.header.msg_type === 'stream') printed = true;
    };
    await waitFor('the cell to be sleeping', async () => (printed ? true : undefined), 10_000);
    await first.kernel.interrupt();
    const reply = await sleeping.done.catch((err: { content?: unknown }) => ({ content: err.content }));
    expect(reply.content).toMatchObject({ status: 'error', ename: 'KeyboardInterrupt' });
    expect(isAlive(first.seen.ppid)).toBe(true);
    // A restart forks a new process; a shutdown ends it, and the server learns its exit.
    await first.kernel.restart();
    const restarted = JSON.parse(await executeForStdout(first.kernel, probe));
    expect(restarted.pid).not.toBe(first.seen.pid);
    expect(restarted.ppid).toBe(first.seen.ppid);
    await waitFor('the restarted kernel\'s old process to be gone', async () => (isAlive(first.seen.pid) ? undefined : true), 10_000);
    await first.kernel.shutdown();
    await waitFor('the shut-down kernel to be gone', async () => (isAlive(restarted.pid) ? undefined : true), 10_000);
    first.kernel.dispose();
    second.kernel.dispose();
  }, 60_000);

  it('ends a forked kernel as a forked child: the exit functions run and the user\'s files are flushed, without the teardown of what it inherited', async () => {
    const settings = settingsFor(stack);
    const dir = await mkdtemp(join(tmpdir(), 'millrace-exit-'));
    const kernel = new KernelConnection({ model: await KernelAPI.startNew({ name: 'python3' }, settings), serverSettings: settings });
    try {
      const code = [
        'import atexit, os, sys, types',
        `d = ${JSON.stringify(dir)}`,
        // Kept by the user's namespace, never closed: written when IPython clears the namespace at exit.
        'unclosed = open(os.path.join(d, "unclosed.txt"), "w"); unclosed.write("buffered")',
        'atexit.register(lambda: open(os.path.join(d, "atexit.txt"), "w").write("ran"))',
        // A module's global: only the interpreter's teardown would finalize it.
        // (Its finalizer holds what it uses: IPython clears the namespace its class was defined in.)
        'class Finalized:',
        '    def __del__(self, path=os.path.join(d, "teardown.txt"), open=open): open(path, "w").write("ran")',
        'sys.modules["millrace_probe"] = types.ModuleType("millrace_probe"); sys.modules["millrace_probe"].held = Finalized()',
        'print(os.getpid())',
      ].join('\n');
      const pid = Number(await executeForStdout(kernel, code));
      await KernelAPI.shutdownKernel(kernel.id, settings);
      await waitFor('the kernel process to be gone', async () => (isAlive(pid) ? undefined : true), 10_000);
      expect(readFileSync(join(dir, 'unclosed.txt'), 'utf8')).toBe('buffered');
      expect(readFileSync(join(dir, 'atexit.txt'), 'utf8')).toBe('ran');
      expect(existsSync(join(dir, 'teardown.txt'))).toBe(false);
    } finally {
      kernel.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('launches the usual way a Python kernel whose spec changes how the interpreter starts', async () => {
    // A kernel spec that sets PYTHONPATH: a forked kernel would have started without it.
    const dir = await mkdtemp(join(tmpdir(), 'millrace-spec-'));
    await mkdir(join(dir, 'kernels', 'python3-path'), { recursive: true });
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib', 'extra_module.py'), 'VALUE = 42\n');
    const spec = { argv: ['python', '-m', 'ipykernel_launcher', '-f', '{connection_file}'], display_name: 'Python 3 (extra path)', language: 'python', env: { PYTHONPATH: join(dir, 'lib') } };
    await writeFile(join(dir, 'kernels', 'python3-path', 'kernel.json'), JSON.stringify(spec));
    const previous = process.env['JUPYTER_PATH'];
    process.env['JUPYTER_PATH'] = dir;
    let server: Awaited<ReturnType<typeof startJupyterServer>> | undefined;
    try {
      server = await startJupyterServer({ stateDir: join(dir, 'state') });
    } finally {
      if (previous === undefined) delete process.env['JUPYTER_PATH'];
      else process.env['JUPYTER_PATH'] = previous;
    }
    try {
      const settings = settingsFor({ jupyter: server } as unknown as Stack);
      const parentOf = async (name: string, code: string) => {
        const kernel = new KernelConnection({ model: await KernelAPI.startNew({ name }, settings), serverSettings: settings });
        try {
          return (await executeForStdout(kernel, code)).trim().split(' ').map(Number);
        } finally {
          await kernel.shutdown();
          kernel.dispose();
        }
      };
      const [value, launchedParent] = await parentOf('python3-path', 'import extra_module, os; print(extra_module.VALUE, os.getppid())');
      expect(value).toBe(42);
      expect(launchedParent).toBe(server.pid);
      // The same server still forks the plain Python kernel.
      const [forkedParent] = await parentOf('python3', 'import os; print(os.getppid())');
      expect(forkedParent).not.toBe(server.pid);
      expect(processTable().find((p) => p.pid === forkedParent)?.cmdline).toContain('kernel_zygote.py');
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stop() shuts kernels down and leaves no process behind', async () => {
    // A kernel left running, as a crashed run would leave it.
    const settings = settingsFor(stack);
    await KernelAPI.startNew({ name: 'python3' }, settings);
    // Python kernels are forked from the warm process (kernel_zygote.py), which goes too.
    const kernels = descendantsMatching(stack.jupyterServer.pid, /ipykernel_launcher|kernel_zygote\.py/);
    expect(kernels.length).toBeGreaterThanOrEqual(3);
    const pids = [stack.temporal.pid, stack.jupyterServer.pid, ...kernels];

    await stack.stop();
    await stack.stop(); // idempotent

    expect(pids.filter(isAlive)).toEqual([]);
    // The server shut its kernels down itself (SIGTERM first), rather than being killed.
    const log = readFileSync(stack.jupyterServer.logPath, 'utf8');
    expect(log).toMatch(/Shutting down \d+ kernels?/);
  }, 60_000);
});

describe('Temporal dev server', () => {
  it('keeps history across a restart on the same database', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'millrace-temporal-'));
    try {
      const first = await startTemporalServer({ stateDir });
      const workflowId = 'persisted-across-restarts';
      try {
        const connection = await Connection.connect({ address: first.address });
        try {
          await connection.workflowService.registerNamespace({
            namespace: 'millrace-persistence-check',
            workflowExecutionRetentionPeriod: msToTs('1 day'),
          });
          // No worker polls this queue: the execution just stays open in the database.
          await new Client({ connection }).workflow.start('nobodyRunsThis', { taskQueue: 'no-worker', workflowId, args: [] });
        } finally {
          await connection.close();
        }
      } finally {
        await first.stop();
      }
      expect(isAlive(first.pid)).toBe(false);

      const second = await startTemporalServer({ stateDir });
      try {
        const connection = await Connection.connect({ address: second.address });
        try {
          const ns = await connection.workflowService.describeNamespace({ namespace: 'millrace-persistence-check' });
          expect(ns.namespaceInfo?.name).toBe('millrace-persistence-check');
          const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
          expect(description.status.name).toBe('RUNNING');
          expect(description.type).toBe('nobodyRunsThis');
        } finally {
          await connection.close();
        }
      } finally {
        await second.stop();
      }
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  }, 180_000);
});
