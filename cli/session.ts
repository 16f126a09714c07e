/**
 * The one way a command reaches Temporal. It declares what it needs of the stack (see
 * `StackNeed` in environment.ts), whether it prints --json, and the run it acts on; its
 * body gets a session that is closed, stopping an embedded stack, however the body ends.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig, type Config } from './config.js';
import { openSession, type Session, type StackNeed } from './environment.js';
import { UserError } from './errors.js';
import { progressLog } from './output.js';

export type { Session, StackNeed };

/** It executes runs itself: an embedded stack with a worker in this process will do. */
export const NEEDS_WORKER: StackNeed = { kind: 'worker' };
/** It reads or changes what Temporal keeps: the embedded Temporal server will do. */
export const READS_HISTORY: StackNeed = { kind: 'history' };
/** Only TEMPORAL_ADDRESS or a live `millrace dev` will do; else `refusal`, before anything starts. */
export function longLivedOnly(refusal: string): StackNeed {
  return { kind: 'long-lived', refusal };
}
/** The refusal of commands whose runs or schedules must outlive them (`run --detach`, `schedule create`). */
export function outlives(what: string): StackNeed {
  return longLivedOnly(`${what} needs a stack that outlives this command: start \`millrace dev\` or set TEMPORAL_ADDRESS`);
}

/** Temporal not knowing the run `runId`, as every command says it: one line, exit 2. Other errors pass. */
export function runNotFound(err: unknown, runId: string): unknown {
  const unknownRun = err instanceof WorkflowNotFoundError && err.workflowId === runId;
  return unknownRun ? new UserError(`no run ${runId}: see \`millrace runs\``) : err;
}

export interface SessionRequest {
  needs: StackNeed;
  /** --json: no progress lines (such as starting the embedded stack) on stderr. */
  json?: boolean;
  /** The run the command acts on: Temporal not knowing it becomes `no run RUN`. */
  run?: string;
  /** Loaded from the environment unless the command already has it. */
  config?: Config;
}

export async function withSession<T>(request: SessionRequest, body: (session: Session, config: Config) => Promise<T>): Promise<T> {
  const config = request.config ?? loadConfig();
  const session = await openSession(config, { needs: request.needs, log: progressLog({ json: request.json ?? false }) });
  try {
    return await body(session, config);
  } catch (err) {
    throw request.run === undefined ? err : runNotFound(err, request.run);
  } finally {
    await session.close();
  }
}
