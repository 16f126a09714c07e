/**
 * Probes of a kernel through a Jupyter server's REST and websocket API, shared by the
 * tests of millrace's own Jupyter Server (stack.test.ts) and of the gateways
 * (backends.test.ts).
 */
import { KernelAPI, KernelConnection, type KernelMessage, type ServerConnection } from '@jupyterlab/services';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

/** What `code` printed on stdout, once it ran without error. */
export async function executeForStdout(kernel: KernelConnection, code: string): Promise<string> {
  let stdout = '';
  const future = kernel.requestExecute({ code, stop_on_error: true });
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') stdout += (msg as KernelMessage.IStreamMsg).content.text;
  };
  const reply = await future.done;
  expect(reply.content.status).toBe('ok');
  return stdout;
}

/**
 * How many kernel_info requests a second websocket's opening sends a new kernel on shell,
 * once every request, on shell and on control, takes 0.3 s: the server's nudge then waits
 * that long for its first reply (on either channel). worker/kernel_nudge.py adds the asks
 * it sends while the nudge waits.
 */
async function asksOnOpening(settings: ServerConnection.ISettings): Promise<number> {
  const model = await KernelAPI.startNew({ name: 'python3' }, settings);
  const first = new KernelConnection({ model, serverSettings: settings });
  let second: KernelConnection | undefined;
  try {
    await executeForStdout(
      first,
      [
        'import time',
        'k = get_ipython().kernel',
        'asked = []',
        'def slowed(handler, channel):',
        '    def slow(*args):',
        '        if channel == "shell": asked.append(time.monotonic())',
        '        time.sleep(0.3)',
        '        return handler(*args)',
        '    return slow',
        'k.shell_handlers["kernel_info_request"] = slowed(k.shell_handlers["kernel_info_request"], "shell")',
        'k.control_handlers["kernel_info_request"] = slowed(k.control_handlers["kernel_info_request"], "control")',
      ].join('\n'),
    );
    second = new KernelConnection({ model, serverSettings: settings });
    await second.info;
    return Number(await executeForStdout(first, 'print(len(asked))'));
  } finally {
    second?.dispose();
    first.dispose();
    await KernelAPI.shutdownKernel(model.id, settings);
  }
}

/**
 * asksOnOpening on a server with worker/kernel_nudge.py (`patched`) and on one started
 * without it, in a state directory of its own that is removed after: the unpatched one
 * sends the nudge's first request and the client's (a third if the machine is slow enough
 * to reach the nudge's second at 0.5 s); the patched one those, and the asks it sent while
 * the nudge waited (six by 0.2 s).
 */
export async function expectQuickerNudge(
  patched: ServerConnection.ISettings,
  startUnpatched: (stateDir: string) => Promise<{ settings: ServerConnection.ISettings; stop(): Promise<void> }>,
): Promise<void> {
  const quick = await asksOnOpening(patched);
  const stateDir = await mkdtemp(join(tmpdir(), 'millrace-nudge-'));
  let asShipped: number;
  try {
    const unpatched = await startUnpatched(stateDir);
    try {
      asShipped = await asksOnOpening(unpatched.settings);
    } finally {
      await unpatched.stop();
    }
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
  expect(asShipped).toBeGreaterThanOrEqual(2);
  expect(asShipped).toBeLessThanOrEqual(3);
  expect(quick).toBeGreaterThanOrEqual(asShipped + 2);
}
