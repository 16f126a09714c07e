/** `millrace cancel RUN`: ask the run to stop; its kernel is interrupted and shut down. */
import { EXIT, UserError } from '../errors.js';
import { longLivedOnly, withSession } from '../session.js';
import { validateRunId } from '../submit.js';

const NO_STACK = longLivedOnly('no running stack here: runs of an embedded `millrace run` end with that command (Ctrl-C cancels it)');

export async function cancelCommand(runId: string): Promise<number> {
  validateRunId(runId, 'cancel');
  return withSession({ needs: NO_STACK, run: runId }, async (session) => {
    const handle = session.client.workflow.getHandle(runId);
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      throw new UserError(`run ${runId} is not running (${description.status.name.toLowerCase()})`);
    }
    await handle.cancel();
    process.stdout.write(`cancellation requested for ${runId}\n`);
    return EXIT.ok;
  });
}
