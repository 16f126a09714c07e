/** The worker thread of contents-offload.ts: one notebook's model, serialised. */
import { parentPort, workerData } from 'node:worker_threads';
import { ContentsError, notebookModelFromBytes, type ContentsModel } from './contents.js';
import type { WorkerReply } from './contents-offload.js';

const { model, bytes, hash } = workerData as { model: ContentsModel; bytes: ArrayBuffer; hash: boolean };
let reply: WorkerReply;
let transfer: ArrayBuffer[] = [];
try {
  const json = Buffer.from(JSON.stringify(notebookModelFromBytes(model, Buffer.from(bytes), hash)), 'utf8');
  const owned = new Uint8Array(json).buffer;
  reply = { json: new Uint8Array(owned) };
  transfer = [owned];
} catch (err) {
  reply = err instanceof ContentsError ? { error: err.message, status: err.status } : { error: (err as Error).message, status: 500 };
}
parentPort!.postMessage(reply, transfer);
