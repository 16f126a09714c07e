/**
 * The one way a command reaches Temporal. It declares what it needs of the stack (see
 * `StackNeed` in environment.ts) and whether it prints --json; its body gets a session
 * that is closed, stopping an embedded stack, however the body ends. A command acting on
 * one run goes through `withRunSession` (cli/run-ids.ts), which resolves the RUN argument.
 */
// From common, not the client: the same class, and this module must not load the client
// (it loads in openSession, only when a command reaches Temporal itself).
// The module, not the package's index (all of @temporalio/common): commands that ask dev load only this.
import { WorkflowNotFoundError } from '@temporalio/common/lib/errors.js';
import { loadConfig, requireState, type Config } from './config.js';
import type { KernelHint, Session, StackNeed } from './environment.js';
import { EXIT, UserError } from './errors.js';
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
  return unknownRun ? noRun(runId) : err;
}

/**
 * A gRPC call's failure, recognised as @temporalio/client's isGrpcServiceError does (a
 * string `details` and a `metadata` record) without loading the client for it.
 */
function isGrpcStatus(e: Error): e is Error & { code: number } {
  const fields = e as Error & { details?: unknown; metadata?: unknown; code?: unknown };
  return typeof fields.details === 'string' && typeof fields.metadata === 'object' && fields.metadata !== null && typeof fields.code === 'number';
}

/** gRPC's status UNAVAILABLE: the server is gone or refuses connections (the client has retried). */
const GRPC_UNAVAILABLE = 14;

/**
 * Temporal lost while following run `runId` (the server died or the network went, past
 * the client's retries), as every command says it: one line, exit 3 (the environment,
 * not millrace), and the run may well go on. Other errors pass.
 */
export function temporalLost(err: unknown, runId: string): unknown {
  let lost = false;
  for (let e: unknown = err; e instanceof Error && !lost; e = e.cause) {
    lost = isGrpcStatus(e) ? e.code === GRPC_UNAVAILABLE : /\bECONNREFUSED\b/.test(e.message);
  }
  if (!lost) return err;
  return new UserError(
    `lost the connection to Temporal while following run ${runId}; the run may still be going: once the stack is back, \`millrace show ${runId}\` says how it stands`,
    EXIT.environment,
  );
}

/** The one line for a RUN argument no run answers to (cli/run-ids.ts), or Temporal not knowing it. */
export function noRun(runId: string): UserError {
  return new UserError(`no run ${runId}: see \`millrace runs\``);
}

export interface SessionRequest {
  needs: StackNeed;
  /** --json: no progress lines (such as starting the embedded stack) on stderr. */
  json?: boolean;
  /**
   * `run` and `schedule create` may create the state directory in the current directory
   * when none is found above it; every other command refuses to (requireState).
   */
  createsState?: boolean;
  /** Loaded from the environment unless the command already has it. */
  config?: Config;
  /** The kernel the command's run will ask for: an embedded stack starts it early. */
  kernelHint?: KernelHint;
}

export async function withSession<T>(request: SessionRequest, body: (session: Session, config: Config) => Promise<T>): Promise<T> {
  const config = request.config ?? loadConfig();
  // On a cluster (TEMPORAL_ADDRESS) Temporal keeps the runs: no local state is needed to reach them.
  if (!request.createsState && !config.temporalAddress) requireState(config);
  const { openSession } = await import('./environment.js');
  const session = await openSession(config, { needs: request.needs, log: progressLog({ json: request.json ?? false }), ...(request.kernelHint ? { kernelHint: request.kernelHint } : {}) });
  try {
    return await body(session, config);
  } finally {
    await session.close();
  }
}
