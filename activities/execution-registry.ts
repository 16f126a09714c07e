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
 *
 * The same install puts a gate in front of the kernel's execute requests (ipykernel's
 * `should_handle` hook): a request whose metadata names an earlier one (`millrace_after`)
 * runs only if that one is recorded as passed, and is answered `aborted`, running nothing,
 * otherwise. The earlier request's outcome is recorded before the kernel looks at the next
 * request, so a cell sent while the one before it still runs (activities/cell-chain.ts)
 * can never run after a cell that failed, however soon that one failed.
 */
import type { Kernel } from '@jupyterlab/services';
import { silentExecute } from './execute-request.js';

const SETUP = `
def __millrace_lighten():
    # Work ipykernel does for every request that changes nothing (the same start-up request
    # carries it; no registry needed). Its logger is at DEBUG with its handler filtering
    # (traitlets' logging config), so each of its debug lines per request builds a record
    # nobody prints; at the handlers' level, the same lines are printed. And ipykernel
    # asks inspect.signature of run_cell_async on every execute request.
    import logging
    ip = get_ipython()
    log = getattr(getattr(ip, 'kernel', None), 'log', None)
    if isinstance(log, logging.Logger) and log.handlers and not log.propagate:
        level = min(h.level for h in log.handlers)
        if level > log.level and level > logging.NOTSET:
            log.setLevel(level)
    try:
        import ipykernel.ipkernel as ipkernel_module
    except ImportError:
        return
    accepts = getattr(ipkernel_module, '_accepts_parameters', None)
    if callable(accepts) and not getattr(accepts, '_millrace_cached', False):
        known = {}
        def accepts_cached(meth, names):
            key = (getattr(meth, '__func__', meth), tuple(names))
            if key not in known:
                known[key] = accepts(meth, names)
            return known[key]
        accepts_cached._millrace_cached = True
        ipkernel_module._accepts_parameters = accepts_cached
__millrace_lighten()
del __millrace_lighten

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
    kernel = getattr(ip, 'kernel', None)
    iopub = getattr(kernel, 'iopub_thread', None)
    if not (hasattr(kernel, 'should_handle') and hasattr(kernel, '_send_abort_reply') and hasattr(kernel, '_publish_status') and hasattr(iopub, 'schedule') and hasattr(iopub, 'socket')):
        return
    import threading, ipykernel, zmq
    handle = kernel.should_handle
    # ipykernel 6 publishes no idle status for a request should_handle refuses; 7 does.
    publish_idle = ipykernel.version_info[0] < 7
    def send_tracked(msg):
        # A busy status of this request, sent from the IOPub thread as explicit zero-copy
        # frames (pyzmq copies a small message otherwise, and does not track it). Returns
        # a wait for ZeroMQ's I/O thread to have taken it, and so what came before it.
        done = threading.Event()
        sent = []
        def send():
            try:
                frames = kernel.session.serialize(kernel.session.msg('status', {'execution_state': 'busy'}, parent=msg), kernel._topic('status'))
                sent.append(iopub.socket.send_multipart([zmq.Frame(f, copy=False, track=True) for f in frames], copy=False, track=True))
            finally:
                done.set()
        iopub.schedule(send)
        def wait():
            if done.wait(10) and sent and sent[0] is not None:
                sent[0].wait(10)
        return wait
    # Before a gated request runs, everything the kernel published so far (the cell
    # before's idle status) leaves it: a cell that kills the kernel at once cannot take
    # that status down with it, and the worker still sees which cell ended. The request's
    # own busy status, which the kernel publishes before it asks should_handle, is sent
    # tracked for that; a kernel that published none gets one more (a second busy).
    def gated_after(msg):
        # The request an execute request waits on, if it is gated.
        if not isinstance(msg, dict) or msg.get('header', {}).get('msg_type') != 'execute_request':
            return None
        return (msg.get('metadata') or {}).get('millrace_after')
    busy_sent = {}  # the gated request whose busy status is on its way: msg_id -> its wait
    publish_status = kernel._publish_status
    def publish_status_tracked(status, channel, parent=None):
        msg = parent or kernel.get_parent(channel)
        if status == 'busy' and gated_after(msg) is not None:
            busy_sent.clear()
            busy_sent[msg['header'].get('msg_id')] = send_tracked(msg)
            return
        return publish_status(status, channel, parent)
    def gated(stream, msg, idents):
        after = gated_after(msg)
        if after is not None:
            on_the_wire = busy_sent.pop(msg['header'].get('msg_id'), None)
            if not outcomes.get(after, {}).get('ok'):
                kernel._send_abort_reply(stream, msg, idents)
                if publish_idle:
                    kernel._publish_status('idle', 'shell')
                return False
            (on_the_wire or send_tracked(msg))()
        return handle(stream, msg, idents)
    kernel._publish_status = publish_status_tracked
    kernel.should_handle = gated
    ip._millrace_gate = True
__millrace_install()
del __millrace_install
`;

/**
 * SETUP as one string literal that the kernel compiles itself: IPython tokenizes a cell's
 * source line by line through its input transformers and compiles it twice (once to ask
 * whether it needs an event loop); one literal is one token. The request cost a fresh
 * kernel 20 ms of CPU as SETUP's lines, 8 as this. JSON's escapes are Python's too.
 */
const SETUP_REQUEST = `exec(compile(${JSON.stringify(SETUP)}, '<millrace-registry>', 'exec'))`;

/** Whether the install put the gate in (an ipykernel with the `should_handle` hook). */
const GATE_EXPRESSION = "getattr(get_ipython(), '_millrace_gate', False)";

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

/** What a kernel keeps: the registry, and the gate in front of its execute requests. */
export interface InstalledRegistry {
  outcomeRegistry: boolean;
  cellGate: boolean;
}

/** Installs the registry (and the gate) in a fresh Python kernel; other kernels just go without. */
export async function installExecutionRegistry(kernel: Kernel.IKernelConnection, language: string): Promise<InstalledRegistry> {
  if (language !== 'python') return { outcomeRegistry: false, cellGate: false };
  const reply = await silentExecute(kernel, SETUP_REQUEST, { purpose: 'outcome-registry', expressions: { gate: GATE_EXPRESSION } });
  if (reply.status !== 'ok') return { outcomeRegistry: false, cellGate: false };
  const gate = reply.user_expressions['gate'] as { status?: string; data?: Record<string, string> } | undefined;
  return { outcomeRegistry: true, cellGate: gate?.status === 'ok' && gate.data?.['text/plain'] === 'True' };
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
