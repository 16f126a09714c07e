/**
 * The execution registry: exactly once per cell across worker crashes. A Python kernel
 * keeps, for each execute request, whether it ran and how it ended (an IPython
 * post_run_cell hook keyed by the request's msg_id). Message ids are derived from the
 * run, cell and record revision, so a retried attempt on a new worker knows which
 * request to ask about without having to trust that a heartbeat reached the server.
 *
 * The registry lives on the IPython shell object, not in the user's namespace, and the
 * queries are silent executions: they add nothing to history, outputs or the execution
 * count. Shell requests run one at a time, so a query sent while the cell still runs is
 * answered when the cell ends.
 */
import type { Kernel } from '@jupyterlab/services';
import { silentExecute } from './execute-request.js';

const SETUP = `
def __millrace_install():
    import sys
    ip = get_ipython()
    if getattr(ip, '_millrace_outcomes', None) is not None:
        return
    outcomes = {}
    def record(result):
        try:
            msg_id = ip.kernel.get_parent('shell')['header']['msg_id']
        except Exception:
            return
        err = result.error_in_exec or result.error_before_exec
        outcomes[msg_id] = {
            'ok': bool(result.success),
            'ename': type(err).__name__ if err is not None else None,
            'evalue': str(err) if err is not None else None,
            'execution_count': result.execution_count,
        }
    ip.events.register('post_run_cell', record)
    ip._millrace_outcomes = outcomes
__millrace_install()
del __millrace_install
`;

/** How an execute request ended, as the registry recorded it. */
export interface RecordedOutcome {
  ok: boolean;
  ename: string | null;
  evalue: string | null;
  execution_count: number | null;
}

export type RegistryAnswer =
  | { kind: 'finished'; outcome: RecordedOutcome }
  | { kind: 'never-ran' }
  | { kind: 'unknown'; why: string };

/** A deterministic, unique msg_id for one attempt-independent cell execution. */
export function executionMsgId(runId: string, cellIndex: number, revision: number): string {
  return `millrace-${runId}-c${cellIndex}-r${revision}`;
}

/** Installs the registry in a fresh Python kernel; other kernels just go without. */
export async function installExecutionRegistry(kernel: Kernel.IKernelConnection, language: string): Promise<boolean> {
  if (language !== 'python') return false;
  const reply = await silentExecute(kernel, SETUP, { purpose: 'outcome-registry' });
  return reply.status === 'ok';
}

/** What became of an execute request whose worker died: waits while it still runs. */
export async function lookUpExecution(kernel: Kernel.IKernelConnection, msgId: string): Promise<RegistryAnswer> {
  const expression =
    "__import__('base64').b64encode(__import__('json').dumps(" +
    `(lambda r: 'no-registry' if r is None else r.get(${JSON.stringify(msgId)}, 'never-ran'))` +
    "(getattr(get_ipython(), '_millrace_outcomes', None))).encode()).decode()";
  const reply = await silentExecute(kernel, '', { purpose: 'outcome-registry', expressions: { answer: expression } });
  if (reply.status !== 'ok') return { kind: 'unknown', why: 'the kernel did not answer the outcome query' };
  const answer = reply.user_expressions['answer'] as { status?: string; data?: Record<string, string> } | undefined;
  const text = answer?.status === 'ok' ? answer.data?.['text/plain'] : undefined;
  if (!text) return { kind: 'unknown', why: 'the kernel keeps no outcome registry (not a Python kernel?)' };
  const decoded: unknown = JSON.parse(Buffer.from(text.replace(/^'|'$/g, ''), 'base64').toString('utf8'));
  if (decoded === 'no-registry') return { kind: 'unknown', why: 'the kernel keeps no outcome registry' };
  if (decoded === 'never-ran') return { kind: 'never-ran' };
  return { kind: 'finished', outcome: decoded as RecordedOutcome };
}
