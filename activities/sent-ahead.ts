/**
 * A cell's execute request as it was sent, before the record follows it. A cell sent ahead
 * (activities/cell-chain.ts) waits in the kernel's queue, gated on the cell before it, and
 * joins the record only once that cell has passed in this worker: its kernel messages are
 * kept until then, and its timeout counts from then.
 *
 * A cell sent ahead of one that did not pass here is parked by its message id. The gate
 * answered it `aborted` (the cell before failed) or lets it run (the cell before was handed
 * off still running, and passed later): the activity that runs the cell later takes it over
 * instead of sending the cell again. Its id is remembered longer than the request is kept,
 * so that activity asks the kernel (the execution registry) rather than send it twice.
 */
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import type { IopubMessage } from '../notebook/outputs.js';
import { execute, type ExecuteOutcome } from './execute-request.js';

export interface SentRequest {
  readonly msgId: string;
  /** The reply: `aborted` when the gate (or ipykernel's stop_on_error) refused it, running nothing. */
  readonly outcome: Promise<ExecuteOutcome>;
  /** Where its kernel messages go from now on; those that came before are delivered first. */
  listen(onMessage: (msg: IopubMessage) => void): void;
  /** When the kernel began it (its execute_input), if it has by now and nobody listens yet. */
  beganAt(): string | undefined;
  /** Starts its timeout (`timeoutMs` of sendRequest). */
  startTimeout(): void;
}

export interface RequestOptions {
  code: string;
  msgId: string;
  timeoutMs?: number;
  /** The request it is gated on: it runs only if that one passed. */
  after?: string;
}

/** Sends one execute request at once; its timeout starts with startTimeout(). */
export function sendRequest(kernel: Kernel.IKernelConnection, options: RequestOptions): SentRequest {
  const early: IopubMessage[] = [];
  let deliver: ((msg: IopubMessage) => void) | undefined;
  let startTimeout!: () => void;
  const timeoutStarts = new Promise<void>((resolve) => (startTimeout = resolve));
  const outcome = execute(kernel, {
    code: options.code,
    msgId: options.msgId,
    timeoutMs: options.timeoutMs,
    timeoutStarts,
    ...(options.after ? { metadata: { millrace_after: options.after } } : {}),
    onIOPub: (msg: KernelMessage.IIOPubMessage) => {
      const message = msg as unknown as IopubMessage;
      if (deliver) deliver(message);
      else early.push(message);
    },
  });
  // Whoever follows the request handles its failure; while parked nobody does.
  outcome.catch(() => undefined);
  return {
    msgId: options.msgId,
    outcome,
    listen(onMessage) {
      deliver = onMessage;
      for (const msg of early.splice(0)) onMessage(msg);
    },
    beganAt: () => early.find((m) => m.header.msg_type === 'execute_input')?.header.date,
    startTimeout,
  };
}

/** Whether the kernel refused the request without running it. */
export function wasAborted(outcome: ExecuteOutcome): boolean {
  return outcome.kind === 'reply' && outcome.reply.content.status === 'aborted';
}

/** How long a parked request is kept after it ended: far longer than its cell's activity comes late. */
const PARKED_AFTER_END_MS = 10 * 60_000;
/** How long its id is remembered: any later activity of the cell asks the kernel whether it ran. */
const REMEMBERED_MS = 24 * 3_600_000;

const parked = new Map<string, SentRequest>();
const sentAheadIds = new Set<string>();

export function parkSentAhead(request: SentRequest): void {
  const { msgId } = request;
  parked.set(msgId, request);
  sentAheadIds.add(msgId);
  // A request taken over by then (every cell sent ahead in a chain that passes) needs no
  // timers; the id's timer holds the id alone, not the request and its messages.
  const forget = () => {
    if (parked.get(msgId) !== request) return;
    setTimeout(() => {
      if (parked.get(msgId) === request) parked.delete(msgId);
    }, PARKED_AFTER_END_MS).unref();
    setTimeout(() => sentAheadIds.delete(msgId), REMEMBERED_MS).unref();
  };
  void request.outcome.then(forget, forget);
}

/** The parked request with this message id, taken over by the caller. */
export function takeSentAhead(msgId: string): SentRequest | undefined {
  const request = parked.get(msgId);
  if (request) {
    parked.delete(msgId);
    sentAheadIds.delete(msgId);
  }
  return request;
}

/** This message id was sent ahead here and not taken over: only the kernel knows whether it ran. */
export function wasSentAhead(msgId: string): boolean {
  return sentAheadIds.has(msgId);
}
