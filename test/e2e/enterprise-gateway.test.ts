/**
 * Container kernels on Jupyter Enterprise Gateway (issue 16; docs/kernels.md, "Enterprise
 * Gateway"): a run's --image/--cpus/--memory/--env reach the gateway as the KERNEL_*
 * variables of its kernel start request, and the gateway's DockerProcessProxy (through
 * worker/eg_docker_launcher.py) starts the kernel in a container of that image through
 * podman's Docker-compatible API service. Needs the images scripts/setup.sh builds and the
 * gateway's venv (scripts/setup-gateways.sh).
 */
import { KernelAPI } from '@jupyterlab/services';
import { WorkflowFailedError } from '@temporalio/client';
import { serverSettings } from '../../activities/jupyter.js';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dockerKernelspec, sshKernelspec, startKernelGateway, startPodmanService, type KernelGateway } from '../../bench/kernel-gateway.js';
import { startSshd, type Sshd } from '../../bench/sshd.js';
import { startWorkerProcess } from '../../bench/worker-process.js';
import { buildRunInput, resolveParameters } from '../../cli/submit.js';
import { podman } from '../../worker/orphans.js';
import type { KernelPlacement, RunResult } from '../../workflows/contracts.js';
import { codeCell, exited, notebook, runAcrossSigkill, runCli, startHarness, streamText, waitFor, type Harness, failureMessage } from './harness.js';

const imageFile = join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'millrace', 'containers', 'kernel-image');
const KERNEL = 'python_container';

let dir: string;
let image: string;
let service: { dockerHost: string; stop(): Promise<void> };
let gateway: KernelGateway;
let h: Harness;
const allowed = () => ({ MILLRACE_ALLOW_IMAGES: image, MILLRACE_ALLOW_ENV: 'GREETING,NOT_LET_THROUGH,KERNEL_UID,KERNEL_GID', MILLRACE_ALLOW_MOUNTS: dir });

beforeAll(async () => {
  if (!existsSync(imageFile)) throw new Error(`no kernel image: run scripts/setup.sh (it builds one with podman; ${imageFile} is missing)`);
  image = readFileSync(imageFile, 'utf8').trim();
  dir = await realpath(await mkdtemp(join(tmpdir(), 'millrace-eg-')));
  service = await startPodmanService(dir);
  gateway = await startKernelGateway({
    stateDir: dir,
    kind: 'enterprise-gateway',
    kernelspecs: { [KERNEL]: dockerKernelspec(service.dockerHost) },
    env: {
      // The proxy finds kernels' containers through the same engine as the launcher.
      DOCKER_HOST: service.dockerHost,
      // The kernels' launcher answers on the host's loopback; the gateway listens there for it.
      EG_RESPONSE_IP: '127.0.0.1',
      EG_CLIENT_ENVS: 'GREETING',
    },
  });
  Object.assign(process.env, allowed());
  h = await startHarness({ jupyter: { url: gateway.url, token: gateway.token } });
}, 120_000);

afterAll(async () => {
  for (const name of Object.keys(allowed())) delete process.env[name];
  await h?.close();
  await gateway?.stop();
  await service?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The gateway's kernel containers (labelled kernel_id by its launcher), running or not. */
async function kernelContainers(): Promise<string[]> {
  const { stdout } = await podman(['ps', '--all', '--filter', 'label=app=enterprise-gateway', '--format', '{{.Names}}']);
  return stdout.split('\n').filter((name) => name.startsWith('millrace-kernel-'));
}

async function inputFor(path: string, placement: KernelPlacement, taskQueue = h.taskQueue, extra: { cellTimeoutS?: number } = {}) {
  const params = await resolveParameters({ parameters: [], raw: [], files: [], yaml: [] });
  return buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params, kernelName: KERNEL, placement, ...extra });
}

async function run(path: string, placement: KernelPlacement, extra: { cellTimeoutS?: number } = {}) {
  const input = await inputFor(path, placement, h.taskQueue, extra);
  let result: RunResult | undefined;
  let error: WorkflowFailedError | undefined;
  try {
    result = (await h.client.workflow.execute('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] })) as RunResult;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    error = err;
  }
  const output = existsSync(input.output) ? JSON.parse(await readFile(input.output, 'utf8')) : undefined;
  return { input, result, error, output };
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
print(os.environ.get("KERNEL_IMAGE"), os.environ.get("GREETING"), "EG_AUTH_TOKEN" in os.environ, "DOCKER_HOST" in os.environ)
`;

describe('container kernels on Enterprise Gateway', () => {
  it("starts the kernel in a container of the run's image, with its limits and variables, and removes it after the run", async () => {
    const path = await h.writeNotebook('inside.ipynb', notebook([codeCell(LIMITS), codeCell('import time\nprint("interrupt me", flush=True)\n6 * 7')]));
    const r = await run(path, { image, cpus: 0.5, memory: '256m', env: { GREETING: 'hello' } });
    expect(failureMessage(r.error)).toBeUndefined();
    const [executable, memory, cpu, variables] = streamText(r.output.cells[0]).trim().split('\n');
    // The image's interpreter (docker/kernel's venv), in a cgroup with the run's limits.
    expect(executable).toBe('/opt/kernel/bin/python3');
    expect(memory).toBe(String(256 * 1024 * 1024));
    expect(cpu).toBe('50000 100000');
    // KERNEL_IMAGE and the run's variable; the gateway's own environment stays out.
    expect(variables).toBe(`${image} hello False False`);
    expect(r.output.metadata.millrace.kernel).toMatchObject({ image, cpus: 0.5, memory: '256m', env_names: ['GREETING'] });
    await waitFor('the container removed', async () => ((await kernelContainers()).length === 0 ? true : undefined), 30_000);
  });

  it('interrupts the running cell through the launcher (a cell timeout)', async () => {
    // The kernel, on the host's network, tells a listener here that KeyboardInterrupt reached it.
    let told = '';
    const listener = createServer((socket) => socket.on('data', (d) => (told += d)));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as AddressInfo).port;
    try {
      const path = await h.writeNotebook('timeout.ipynb', notebook([
        codeCell(`import socket, time\ntry:\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    socket.create_connection(("127.0.0.1", ${port})).sendall(b"interrupted")\n    raise`),
        codeCell('print("never")'),
      ]));
      const r = await run(path, { image }, { cellTimeoutS: 3 });
      expect(r.error?.cause?.message).toBe('cell 0 failed: CellTimeoutError: Cell execution timed out after 3 s');
      await waitFor('the kernel to say it was interrupted', async () => (told === 'interrupted' ? true : undefined), 15_000);
    } finally {
      listener.close();
    }
    await waitFor('the container removed', async () => ((await kernelContainers()).length === 0 ? true : undefined), 30_000);
  });

  it('refuses what the gateway cannot place, in one line, before the run starts a container', async () => {
    const path = await h.writeNotebook('refused.ipynb', notebook([codeCell('print("never")')]));
    const mounted = await run(path, { image, mounts: [`${dir}:/data:ro`] });
    expect(failureMessage(mounted.error)).toBe(
      `--mount does not apply to kernels of the Enterprise Gateway at ${gateway.url}/: its host folders are not the worker's (mount them in the kernelspec's launcher)`,
    );
    // Allowed by the worker, not let through by the gateway (EG_CLIENT_ENVS): the kernel never runs a cell.
    const dropped = await run(path, { image, env: { NOT_LET_THROUGH: 'x' } });
    expect(failureMessage(dropped.error)).toBe(
      `environment variable "NOT_LET_THROUGH" did not reach the kernel: the Enterprise Gateway at ${gateway.url}/ drops the variables its client_envs does not list (EG_CLIENT_ENVS=NOT_LET_THROUGH)`,
    );
    expect(dropped.output.cells[0].outputs).toEqual([]);
    await waitFor('the containers removed', async () => ((await kernelContainers()).length === 0 ? true : undefined), 30_000);
  });

  it('runs each cell exactly once in the container when the worker is SIGKILLed mid-cell', async () => {
    const taskQueue = `eg-killed-${randomBytes(3).toString('hex')}`;
    const nb = await runAcrossSigkill({
      writeNotebook: (name, content) => h.writeNotebook(name, content),
      workerEnv: gatewayWorkerEnv(gateway, taskQueue),
      start: async (path) => {
        const input = await inputFor(path, { image }, taskQueue);
        const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
        return { output: input.output, result: () => handle.result() };
      },
    });
    // The side effect, written in the container: each cell once.
    expect(streamText(nb.cells[3])).toBe('cell 0\ncell 1\ncell 2\n');
    expect(nb.cells[1].metadata.millrace.recovered).toBe(true);
    await waitFor('the container removed', async () => ((await kernelContainers()).length === 0 ? true : undefined));
  });
});

/** `millrace worker` attached to `gw` on its own task queue, with this file's allow-list. */
function gatewayWorkerEnv(gw: KernelGateway, taskQueue: string): NodeJS.ProcessEnv {
  return { ...process.env, ...allowed(), TEMPORAL_ADDRESS: inject('stack').temporalAddress, MILLRACE_TASK_QUEUE: taskQueue, MILLRACE_JUPYTER_URL: gw.url, MILLRACE_JUPYTER_TOKEN: gw.token };
}

describe('the user kernels start for on Enterprise Gateway (KERNEL_USERNAME)', () => {
  /** A `millrace worker` process on a task queue of its own, attached to the gateway with `args`. */
  async function withGatewayWorker<T>(args: string[], body: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `eg-user-${randomBytes(3).toString('hex')}`;
    const worker = await startWorkerProcess(gatewayWorkerEnv(gateway, taskQueue), args);
    try {
      return await body(taskQueue);
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
  }

  async function runOn(taskQueue: string, path: string, placement: KernelPlacement | undefined, kernelName = KERNEL) {
    const params = await resolveParameters({ parameters: [], raw: [], files: [], yaml: [] });
    const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params, kernelName, ...(placement ? { placement } : {}) });
    const error = await h.client.workflow.execute('notebookRun', { taskQueue, workflowId: input.runId, args: [input] }).then(() => undefined, (err: Error) => err);
    return { error, output: JSON.parse(await readFile(input.output, 'utf8')) };
  }

  it("gives the gateway the worker's --kernel-user: the kernel sees it, in a container and as a process", async () => {
    const path = await h.writeNotebook('user.ipynb', notebook([codeCell('import os\nprint(os.environ.get("KERNEL_USERNAME"))')]));
    await withGatewayWorker(['--kernel-user', 'alice'], async (taskQueue) => {
      const inContainer = await runOn(taskQueue, path, { image });
      expect(failureMessage(inContainer.error)).toBeUndefined();
      expect(streamText(inContainer.output.cells[0])).toBe('alice\n');
      // The gateway's own python3 (no container): the same user.
      const asProcess = await runOn(taskQueue, path, undefined, 'python3');
      expect(failureMessage(asProcess.error)).toBeUndefined();
      expect(streamText(asProcess.output.cells[0])).toBe('alice\n');
    });
    await waitFor('the container removed', async () => ((await kernelContainers()).length === 0 ? true : undefined), 30_000);
    // No other kernel left behind: the gateway's session API starts one of its own for a new session (deleted at once).
    await waitFor('no kernel left on the gateway', async () => ((await KernelAPI.listRunning(serverSettings({ url: gateway.url, token: gateway.token }))).length === 0 ? true : undefined), 15_000);
  });

  it('fails the run in one line naming the user when the gateway refuses it (unauthorized_users), and runs none of its cells', async () => {
    const path = await h.writeNotebook('refused-user.ipynb', notebook([codeCell('print("ran")')]));
    // bench/kernel-gateway.ts starts Enterprise Gateway with unauthorized_users = {millrace-nobody}.
    await withGatewayWorker(['--kernel-user', 'millrace-nobody'], async (taskQueue) => {
      const r = await runOn(taskQueue, path, { image });
      expect(failureMessage(r.error)).toBe(
        `the Jupyter server at ${gateway.url}/ refused to start kernel "${KERNEL}" for user "millrace-nobody" (KERNEL_USERNAME): User 'millrace-nobody' is not authorized to start kernel 'Python 3 (container)'. Ensure KERNEL_USERNAME is set to an appropriate value and retry the request.`,
      );
      expect(r.output.cells[0].outputs).toEqual([]);
    });
    expect(await kernelContainers()).toEqual([]);
  });

  it('refuses --kernel-user in one line without --jupyter-url (it is the gateway user; millrace dev has its own)', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: inject('stack').temporalAddress };
    delete env['MILLRACE_JUPYTER_URL'];
    const r = await runCli(['worker', '--kernel-user', 'alice'], env, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("millrace: --kernel-user of `millrace worker` names the user of an Enterprise Gateway's kernels and needs --jupyter-url: give it to `millrace dev` to run this directory's kernels as another user\n");
  });

  it("runs the container as the gateway's KERNEL_UID:KERNEL_GID, as Enterprise Gateway's own Docker launcher does", async () => {
    const path = await h.writeNotebook('uid.ipynb', notebook([codeCell('import os\nprint(os.getuid(), os.getgid(), os.environ["KERNEL_UID"], os.environ["KERNEL_GID"])')]));
    // The proxy's defaults (1000:100), then ids the run asks for (KERNEL_* always pass the gateway; the worker allows them here).
    const defaults = await run(path, { image });
    expect(failureMessage(defaults.error)).toBeUndefined();
    expect(streamText(defaults.output.cells[0])).toBe('1000 100 1000 100\n');
    const chosen = await run(path, { image, env: { KERNEL_UID: '1234', KERNEL_GID: '4321' } });
    expect(failureMessage(chosen.error)).toBeUndefined();
    expect(streamText(chosen.output.cells[0])).toBe('1234 4321 1234 4321\n');
    await waitFor('the containers removed', async () => ((await kernelContainers()).length === 0 ? true : undefined), 30_000);
  });
});

describe('a gateway kernelspec without a container process proxy', () => {
  let kg: KernelGateway;
  let kgHarness: Harness;
  const refused = (url: string) =>
    `the kernel did not start in a container: the Jupyter Server at ${url}/ is not millrace's own (container kernels need the embedded server, millrace dev or run, or Enterprise Gateway with a container kernelspec)`;

  beforeAll(async () => {
    kg = await startKernelGateway({ stateDir: join(dir, 'kg') });
    kgHarness = await startHarness({ jupyter: { url: kg.url, token: kg.token } });
  }, 120_000);
  afterAll(async () => {
    await kgHarness?.close();
    await kg?.stop();
  });

  it('refuses a run with --image, in one line, and runs none of its cells: on Kernel Gateway, and on Enterprise Gateway\'s own python3', async () => {
    for (const [harness, url] of [[kgHarness, kg.url], [h, gateway.url]] as const) {
      const path = await harness.writeNotebook('no-placement.ipynb', notebook([codeCell('print("ran")')]));
      const input = await buildRunInput(harness.config, { notebookPath: path, params: await resolveParameters({ parameters: [], raw: [], files: [], yaml: [] }), placement: { image } });
      const error = await harness.client.workflow.execute('notebookRun', { taskQueue: harness.taskQueue, workflowId: input.runId, args: [input] }).then(() => undefined, (err: Error) => err);
      expect(failureMessage(error)).toBe(refused(url));
      const nb = JSON.parse(await readFile(input.output, 'utf8'));
      expect(nb.cells.filter((c: { cell_type: string }) => c.cell_type === 'code')[0].outputs).toEqual([]);
    }
  });
});

describe("Enterprise Gateway's DistributedProcessProxy over SSH to 127.0.0.2", () => {
  let sshd: Sshd;
  let sshGateway: KernelGateway;
  let sshHarness: Harness;

  beforeAll(async () => {
    sshd = await startSshd(join(dir, 'ssh'));
    sshGateway = await startKernelGateway({
      stateDir: join(dir, 'ssh'),
      kind: 'enterprise-gateway',
      kernelspecs: { python_ssh: sshKernelspec() },
      env: { HOME: sshd.clientHome, EG_REMOTE_HOSTS: sshd.host, EG_SSH_PORT: String(sshd.port), EG_RESPONSE_IP: '127.0.0.1', EG_KERNEL_LOG_DIR: join(dir, 'ssh') },
    });
    sshHarness = await startHarness({ jupyter: { url: sshGateway.url, token: sshGateway.token } });
  }, 120_000);
  afterAll(async () => {
    await sshHarness?.close();
    await sshGateway?.stop();
    await sshd?.stop();
  });

  it('runs a notebook whose kernel the gateway launched over SSH on the second host', async () => {
    const path = await sshHarness.writeNotebook('ssh.ipynb', notebook([
      codeCell('import os\nprint(os.environ.get("SSH_CONNECTION", "").split()[2:3])'),
      codeCell('6 * 7'),
    ]));
    const params = await resolveParameters({ parameters: [], raw: [], files: [], yaml: [] });
    const input = await buildRunInput(sshHarness.config, { notebookPath: path, params, kernelName: 'python_ssh' });
    await sshHarness.client.workflow.execute('notebookRun', { taskQueue: sshHarness.taskQueue, workflowId: input.runId, args: [input] });
    const nb = JSON.parse(await readFile(input.output, 'utf8'));
    // Started by sshd, for a connection to 127.0.0.2.
    expect(streamText(nb.cells[0])).toBe("['127.0.0.2']\n");
    expect([nb.cells[1].outputs[0].data['text/plain']].flat().join('')).toBe('42');
    expect(sshd.logText()).toContain('Accepted publickey');
  });

  it('runs each cell exactly once on the remote host when the worker is SIGKILLed mid-cell', async () => {
    const taskQueue = `ssh-killed-${randomBytes(3).toString('hex')}`;
    const params = await resolveParameters({ parameters: [], raw: [], files: [], yaml: [] });
    const nb = await runAcrossSigkill({
      writeNotebook: (name, content) => sshHarness.writeNotebook(name, content),
      workerEnv: gatewayWorkerEnv(sshGateway, taskQueue),
      start: async (path) => {
        const input = await buildRunInput({ ...sshHarness.config, taskQueue }, { notebookPath: path, params, kernelName: 'python_ssh' });
        const handle = await sshHarness.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
        return { output: input.output, result: () => handle.result() };
      },
    });
    expect(streamText(nb.cells[3])).toBe('cell 0\ncell 1\ncell 2\n');
    expect(nb.cells[1].metadata.millrace.recovered).toBe(true);
  });
});
