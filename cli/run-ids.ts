/**
 * RUN arguments (`show`, `inspect`, `resume`, `cancel`, `retry|exec|skip|abort`): a run
 * id, any unique prefix of one, or `latest` (or `-`) for the run started last. Prefixes
 * and `latest` are resolved through Temporal visibility, the listing `millrace runs` shows.
 */
import type { Client } from '@temporalio/client';
// The module, not the package's index (all of @temporalio/common): commands that ask dev load only this.
import { WorkflowNotFoundError } from '@temporalio/common/lib/errors.js';
import type { Config } from './config.js';
import { UserError } from './errors.js';
import { newestRun, visibleRuns, type RunSummary } from './run-summaries.js';
import { noRun, runNotFound, withSession, type Session, type SessionRequest } from './session.js';
import { LATEST_RUN_NAMES, validateRunId } from './submit.js';

/** An ambiguous prefix lists at most this many of the runs it matches. */
const MAX_CANDIDATES = 10;

/** A RUN argument checked before anything starts; `command` names it in the message. */
export function checkRunArgument(given: string, command: string): string {
  return LATEST_RUN_NAMES.has(given) ? given : validateRunId(given, command);
}

/**
 * The run id a RUN argument names. An exact id wins over a prefix of longer ids, and is
 * asked of Temporal directly (strongly consistent: a run started a moment ago is found
 * before visibility lists it). No run matching is `no run RUN`; several list themselves.
 */
export async function resolveRunId(client: Client, given: string): Promise<string> {
  if (LATEST_RUN_NAMES.has(given)) {
    const newest = await newestRun(client);
    if (!newest) throw new UserError(`${given}: there are no runs yet (see \`millrace runs\`)`);
    return newest.run_id;
  }
  try {
    await client.workflow.getHandle(given).describe();
    return given;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  const matches: RunSummary[] = [];
  for await (const run of visibleRuns(client, { idPrefix: given })) {
    matches.push(run);
    if (matches.length > MAX_CANDIDATES) break;
  }
  if (matches.length === 0) throw noRun(given);
  if (matches.length === 1) return matches[0]!.run_id;
  throw new UserError(ambiguous(given, matches));
}

function ambiguous(prefix: string, matches: RunSummary[]): string {
  const more = matches.length > MAX_CANDIDATES;
  const shown = matches.slice(0, MAX_CANDIDATES).map((r) => `  ${r.run_id}  ${r.status}  ${r.started ?? ''}`.trimEnd());
  const count = more ? `more than ${MAX_CANDIDATES} runs` : `${matches.length} runs`;
  return [`run id prefix ${prefix} is ambiguous: it matches ${count}; give more of the id:`, ...shown, ...(more ? ['  ...'] : [])].join('\n');
}

/**
 * `withSession` for a command acting on one run: `run` (a RUN argument, checked already
 * with checkRunArgument) is resolved before the body runs, and the body gets the full id;
 * Temporal not knowing it there becomes `no run RUN`.
 */
export async function withRunSession<T>(
  request: SessionRequest & { run: string },
  body: (session: Session, runId: string, config: Config) => Promise<T>,
): Promise<T> {
  return withSession(request, (session, config) => inRun(session.client, request.run, (runId) => body(session, runId, config)));
}

/** `body` for the run `given` names (resolved as above); Temporal not knowing it there becomes `no run RUN`. */
export async function inRun<T>(client: Client, given: string, body: (runId: string) => Promise<T>): Promise<T> {
  const runId = await resolveRunId(client, given);
  try {
    return await body(runId);
  } catch (err) {
    throw runNotFound(err, runId);
  }
}
