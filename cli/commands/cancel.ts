/** `millrace cancel RUN`: ask the run to stop; its kernel is interrupted and shut down. */
import type { Client } from '@temporalio/client';
import { EXIT, UserError } from '../errors.js';
import { checkRunArgument, withRunSession } from '../run-ids.js';
import { longLivedOnly } from '../session.js';

const NO_STACK = longLivedOnly('no running stack here: runs of an embedded `millrace run` end with that command (Ctrl-C cancels it)');

export async function cancelCommand(run: string): Promise<number> {
  checkRunArgument(run, 'cancel');
  return withRunSession({ needs: NO_STACK, run }, async (session, runId) => {
    process.stdout.write(`${await requestCancel(session.client, runId)}\n`);
    return EXIT.ok;
  });
}

/** Asks a running (or paused) run to stop; refuses one that is not running. Also the inspector's cancel key. */
export async function requestCancel(client: Client, runId: string): Promise<string> {
  const handle = client.workflow.getHandle(runId);
  const description = await handle.describe();
  if (description.status.name !== 'RUNNING') {
    throw new UserError(`run ${runId} is not running (${description.status.name.toLowerCase()})`);
  }
  await handle.cancel();
  return `cancellation requested for ${runId}`;
}
