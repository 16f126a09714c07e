/**
 * The kernel round trip alone, for the profile: one trivial statement executed
 * sequentially (a) as millrace sends it — @jupyterlab/services over Jupyter Server's
 * kernel websocket (TCP_NODELAY), with the activities' own `execute` — and (b) as
 * papermill sends it — jupyter_client over ZeroMQ straight to the kernel.
 */
import { join } from 'node:path';
import { KernelAPI } from '@jupyterlab/services';
import { execute } from '../activities/execute-request.js';
import { connectKernel, serverSettings } from '../activities/jupyter.js';
import { packageRoot, venvPython } from '../worker/paths.js';
import { runProcess } from './papermill.js';

const WARMUP = 5;

export async function websocketRoundTrips(jupyter: { url: string; token: string }, cells: number): Promise<number[]> {
  const settings = serverSettings(jupyter);
  const model = await KernelAPI.startNew({ name: 'python3' }, settings);
  const kernel = await connectKernel(settings, model);
  try {
    const times: number[] = [];
    for (let i = 0; i < WARMUP + cells; i++) {
      const started = performance.now();
      const outcome = await execute(kernel, { code: `x = ${i}`, onIOPub: () => undefined });
      if (outcome.kind !== 'reply' || outcome.reply.content.status !== 'ok') throw new Error('trivial execution failed');
      if (i >= WARMUP) times.push(performance.now() - started);
    }
    return times;
  } finally {
    kernel.dispose();
    await KernelAPI.shutdownKernel(model.id, settings);
  }
}

export async function zmqRoundTrips(cells: number): Promise<number[]> {
  const { stdout } = await runProcess(venvPython(), [join(packageRoot(), 'bench', 'zmq_roundtrip.py'), String(cells)]);
  return (JSON.parse(stdout.trim().split('\n').pop()!) as { ms: number[] }).ms;
}
