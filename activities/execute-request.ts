/**
 * execute_requests to a running kernel, each followed like a `@jupyterlab/services`
 * future until its reply, but watched for the kernel's death as the library's futures
 * are not: a request to a kernel that died fails instead of waiting forever.
 *
 * `execute` sends a notebook cell's code (or scratch code) and follows its outputs;
 * `silentExecute` sends the code millrace runs for itself (the execution registry's and the
 * checkpoint helper's), which adds nothing to the kernel's history, outputs or execution
 * count.
 */
import { KernelMessage, type Kernel } from '@jupyterlab/services';
import { randomUUID } from 'node:crypto';
import { KernelError } from './jupyter.js';

export type ExecuteReply = KernelMessage.IExecuteReplyMsg['content'];

/**
 * Watches a kernel while one request to it is outstanding: `failed` rejects once the
 * kernel dies (and, given `lostAfterMs`, once its websocket has stayed down that long)
 * until `dispose()`, which the request calls when it ends, however it ends.
 */
class KernelWatch {
  readonly failed: Promise<never>;
  private readonly stops: Array<() => void> = [];

  constructor(kernel: Kernel.IKernelConnection, options: { lostAfterMs?: number } = {}) {
    this.failed = new Promise<never>((_, reject) => {
      const onStatus = (_: unknown, status: Kernel.Status) => {
        if (status === 'dead' || status === 'restarting' || status === 'autorestarting') {
          reject(new KernelError(`the kernel died (status ${status})`, 'kernel-died'));
        }
      };
      kernel.statusChanged.connect(onStatus);
      this.stops.push(() => kernel.statusChanged.disconnect(onStatus));

      const { lostAfterMs } = options;
      if (lostAfterMs === undefined) return;
      let lostTimer: NodeJS.Timeout | undefined;
      const onConnection = (_: unknown, status: Kernel.ConnectionStatus) => {
        if (status === 'connected') {
          clearTimeout(lostTimer);
          lostTimer = undefined;
        } else if (!lostTimer) {
          lostTimer = setTimeout(() => reject(new KernelError('lost the connection to the kernel', 'kernel-lost')), lostAfterMs);
        }
      };
      kernel.connectionStatusChanged.connect(onConnection);
      this.stops.push(() => {
        kernel.connectionStatusChanged.disconnect(onConnection);
        clearTimeout(lostTimer);
      });
    });
  }

  dispose(): void {
    for (const stop of this.stops) stop();
  }
}

export interface ExecuteOptions {
  code: string;
  msgId?: string;
  timeoutMs?: number;
  /** How long the websocket may stay down before the kernel counts as lost. */
  lostAfterMs?: number;
  /** False for code that is not one of the notebook's cells (scratch code of a paused run). */
  storeHistory?: boolean;
  /** The request's metadata (the execution registry's gate reads `millrace_after`). */
  metadata?: Record<string, string>;
  /** When `timeoutMs` starts to count: at once, or once this resolves (a cell sent ahead counts from its turn). */
  timeoutStarts?: Promise<void>;
  onIOPub: (msg: KernelMessage.IIOPubMessage) => void;
}

export type ExecuteOutcome = { kind: 'reply'; reply: KernelMessage.IExecuteReplyMsg } | { kind: 'timeout' };

/**
 * Sends one execute_request and resolves when its reply and its final idle status have
 * both arrived, or fails as soon as the kernel dies or is lost.
 */
export async function execute(kernel: Kernel.IKernelConnection, options: ExecuteOptions): Promise<ExecuteOutcome> {
  const msg = KernelMessage.createMessage({
    msgType: 'execute_request',
    channel: 'shell',
    session: kernel.clientId,
    username: kernel.username,
    msgId: options.msgId ?? randomUUID(),
    ...(options.metadata ? { metadata: options.metadata } : {}),
    content: {
      code: options.code,
      silent: false,
      store_history: options.storeHistory ?? true,
      user_expressions: {},
      // No stdin: input() raises at once instead of waiting for an answer nobody gives.
      allow_stdin: false,
      stop_on_error: true,
    },
  });
  // Outputs come from the connection's iopub stream rather than the future's onIOPub:
  // @jupyterlab/services reroutes update_display_data to the future that first showed
  // the display id, which belongs to an earlier cell. nbclient sees every message.
  let sawIdle: () => void = () => undefined;
  const idle = new Promise<void>((resolve) => (sawIdle = resolve));
  const seen = new ReplyFromIopub();
  const onIopub = (_: unknown, iopub: KernelMessage.IIOPubMessage) => {
    if ((iopub.parent_header as Partial<KernelMessage.IHeader>)?.msg_id !== msg.header.msg_id) return;
    options.onIOPub(iopub);
    seen.note(iopub);
    if (KernelMessage.isStatusMsg(iopub) && iopub.content.execution_state === 'idle') sawIdle();
  };
  kernel.iopubMessage.connect(onIopub);
  const future = kernel.sendShellMessage(msg, true, true) as Kernel.IShellFuture<
    KernelMessage.IExecuteRequestMsg,
    KernelMessage.IExecuteReplyMsg
  >;

  const watch = new KernelWatch(kernel, { lostAfterMs: options.lostAfterMs ?? 20_000 });

  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const timeout = new Promise<ExecuteOutcome>((resolve) => {
    const { timeoutMs } = options;
    if (timeoutMs === undefined) return;
    const start = () => {
      if (!ended) timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
    };
    if (options.timeoutStarts) void options.timeoutStarts.then(start);
    else start();
  });

  try {
    // The watch must stay a direct contender: it fails synchronously with the kernel's
    // status, a microtask before @jupyterlab/services cancels the future.
    return await Promise.race([Promise.all([future.done, idle]).then(([reply]) => ({ kind: 'reply' as const, reply })), timeout, watch.failed]);
  } catch (err) {
    // A kernel that died right after the request ended (the next cell, sent ahead, killed
    // it) may take the reply with it, unsent: its idle status says the request had ended,
    // and its iopub messages how.
    const reply = err instanceof KernelError ? seen.reply(msg.header) : undefined;
    if (reply) return reply;
    throw err;
  } finally {
    ended = true;
    clearTimeout(timer);
    kernel.iopubMessage.disconnect(onIopub);
    watch.dispose();
  }
}

/** What an execute request's iopub messages tell of its end, for a reply the kernel never got out. */
class ReplyFromIopub {
  private ended = false;
  private executionCount: number | null = null;
  private error: { ename: string; evalue: string; traceback: string[] } | undefined;
  private lastDate: string | undefined;

  note(iopub: KernelMessage.IIOPubMessage): void {
    const content = iopub.content as { execution_count?: number; ename?: string; evalue?: string; traceback?: string[]; execution_state?: string };
    if (iopub.header.msg_type === 'execute_input') this.executionCount = content.execution_count ?? null;
    else if (iopub.header.msg_type === 'error') this.error = { ename: content.ename ?? 'Error', evalue: content.evalue ?? '', traceback: content.traceback ?? [] };
    else if (iopub.header.msg_type === 'status' && content.execution_state === 'idle') {
      this.ended = true;
      this.lastDate = iopub.header.date;
    }
  }

  /** The reply the request's messages imply, once its idle status came; undefined before. */
  reply(request: KernelMessage.IHeader): ExecuteOutcome | undefined {
    if (!this.ended) return undefined;
    const execution_count = this.executionCount;
    const content = this.error ? { status: 'error' as const, execution_count, ...this.error } : { status: 'ok' as const, execution_count, user_expressions: {}, payload: [] };
    const header = { ...request, msg_id: `${request.msg_id}-reply`, msg_type: 'execute_reply', date: this.lastDate ?? new Date().toISOString() };
    return { kind: 'reply', reply: { header, parent_header: request, metadata: {}, content, channel: 'shell' } as unknown as KernelMessage.IExecuteReplyMsg };
  }
}

/**
 * Code millrace runs for itself: no outputs, history or execution count, and
 * `user_expressions` to bring values back. `purpose` goes into the request's metadata.
 */
export async function silentExecute(
  kernel: Kernel.IKernelConnection,
  code: string,
  options: { purpose: string; expressions?: Record<string, string> },
): Promise<ExecuteReply> {
  const future = kernel.requestExecute(
    { code, silent: true, store_history: false, allow_stdin: false, stop_on_error: false, user_expressions: options.expressions ?? {} },
    true,
    { millrace: options.purpose, id: randomUUID() },
  );
  const watch = new KernelWatch(kernel);
  try {
    return (await Promise.race([future.done, watch.failed])).content;
  } finally {
    watch.dispose();
  }
}
