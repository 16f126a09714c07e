/**
 * The embedded stack against the real servers: Temporal dev server and Jupyter Server
 * start, answer, authenticate, run a kernel with TCP_NODELAY, stop without leaving a
 * process behind, and Temporal history survives a restart on the same database.
 */
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { KernelAPI, KernelConnection, ServerConnection, type KernelMessage } from '@jupyterlab/services';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startStack, type Stack } from '../../worker/stack.js';
import { startTemporalServer } from '../../worker/temporal-server.js';

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

/** Live processes whose parent is `ppid` and whose command line contains `needle`. */
function childrenMatching(ppid: number, needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (parent === ppid && cmdline.includes(needle)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
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

async function executeForStdout(kernel: KernelConnection, code: string): Promise<string> {
  let stdout = '';
  const future = kernel.requestExecute({ code, stop_on_error: true });
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') stdout += (msg as KernelMessage.IStreamMsg).content.text;
  };
  const reply = await future.done;
  expect(reply.content.status).toBe('ok');
  return stdout;
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

  it('stop() shuts kernels down and leaves no process behind', async () => {
    // A kernel left running, as a crashed run would leave it.
    const settings = settingsFor(stack);
    await KernelAPI.startNew({ name: 'python3' }, settings);
    const kernels = childrenMatching(stack.jupyterServer.pid, 'ipykernel_launcher');
    expect(kernels.length).toBeGreaterThanOrEqual(2);
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
