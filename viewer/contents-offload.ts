/**
 * Building a large notebook's contents model off the event loop: the bytes go to a worker
 * thread (transferred, not copied), which parses the notebook, builds the model
 * (contents.ts notebookModelFromBytes) and serialises it; the JSON comes back as a
 * transferred buffer. One thread per request: such requests are rare and each is big.
 */
import { Worker } from 'node:worker_threads';
import { ContentsError, type ContentsModel } from './contents.js';

export type WorkerReply = { json: Uint8Array } | { error: string; status: number };

export function notebookModelJsonInWorker(model: ContentsModel, bytes: Buffer, hash: boolean): Promise<Buffer> {
  // Large reads have an ArrayBuffer of their own, handed over as is; a Buffer that is a view
  // into a bigger (pooled) one is copied first.
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const owned = whole ? (bytes.buffer as ArrayBuffer) : new Uint8Array(bytes).buffer;
  const worker = new Worker(new URL('./contents-worker.js', import.meta.url), { workerData: { model, bytes: owned, hash }, transferList: [owned] });
  return new Promise<Buffer>((resolve, reject) => {
    worker.once('message', (reply: WorkerReply) => {
      if ('json' in reply) resolve(Buffer.from(reply.json.buffer, reply.json.byteOffset, reply.json.byteLength));
      else reject(new ContentsError(reply.status, reply.error));
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the contents worker exited with code ${code}`)));
  });
}
