/** `millrace cancel RUN`: ask the run to stop; its kernel is interrupted and shut down. */
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig } from '../config.js';
import { openSession } from '../environment.js';
import { EXIT, UserError } from '../errors.js';
import { validateRunId } from '../submit.js';

export async function cancelCommand(runId: string): Promise<number> {
  validateRunId(runId);
  const config = loadConfig();
  const session = await openSession(config, { needsWorker: false });
  if (session.mode === 'embedded') {
    await session.close();
    throw new UserError('no running stack here: runs of an embedded `millrace run` end with that command (Ctrl-C cancels it)');
  }
  try {
    const handle = session.client.workflow.getHandle(runId);
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      throw new UserError(`run ${runId} is not running (${description.status.name.toLowerCase()})`);
    }
    await handle.cancel();
    process.stdout.write(`cancellation requested for ${runId}\n`);
    return EXIT.ok;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UserError(`no run ${runId}: see \`millrace runs\``);
    throw err;
  } finally {
    await session.close();
  }
}
