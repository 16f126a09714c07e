import { ApplicationFailure } from '@temporalio/activity';
import type { ServerConnection } from '@jupyterlab/services';
import type { RestoreInput } from '../workflows/contracts.js';
import { CheckpointError, restoreNamespace } from './checkpoint.js';
import { withHeartbeats } from './heartbeat.js';
import { connectKernel } from './jupyter.js';

/** `resume --restore checkpoint`: the earlier run's saved namespace, loaded into the new kernel. */
export async function restoreCheckpoint(settings: ServerConnection.ISettings, input: RestoreInput): Promise<{ names: number }> {
  const kernel = await connectKernel(settings, { id: input.kernel.kernelId, name: input.kernel.kernelName });
  return withHeartbeats(async (beat) => {
    try {
      const plan = input.checkpoint
        ? { location: input.checkpoint.location, sha256: input.checkpoint.sha256, bytes: input.checkpoint.bytes }
        : undefined;
      const names = await restoreNamespace(kernel, plan, input.parameters, beat);
      return { names: names.length };
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      const which = input.checkpoint ? `the checkpoint saved after cell ${input.checkpoint.cell}` : 'the new parameter values';
      throw ApplicationFailure.nonRetryable(`restoring ${which} failed: ${err.message}`, 'CheckpointRestoreFailed');
    }
  });
}
