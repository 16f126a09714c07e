/**
 * The heartbeat of a long activity (a cell, scratch code, a checkpoint restore): how a
 * dead worker is noticed (the workflows' heartbeat timeout is 10 s) and how a cancel
 * reaches the activity (the worker sends heartbeats at most every 2 s, its
 * maxHeartbeatThrottleInterval).
 */
import { Context } from '@temporalio/activity';

export const HEARTBEAT_MS = 2_000;

/**
 * Runs `body` while heartbeating: once at the start, then every HEARTBEAT_MS until `body`
 * ends, however it ends. `body` may beat sooner to report progress. Local activities
 * cannot heartbeat: their body just runs.
 */
export async function withHeartbeats<T>(body: (beat: () => void) => Promise<T>, details?: unknown): Promise<T> {
  const ctx = Context.current();
  if (ctx.info.isLocal) return body(() => undefined);
  const beat = () => ctx.heartbeat(details);
  beat();
  const beating = setInterval(beat, HEARTBEAT_MS);
  try {
    return await body(beat);
  } finally {
    clearInterval(beating);
  }
}
