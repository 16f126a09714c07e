/**
 * The worker's side of files a cell saves to its run's folder (notebook/saved-files.ts):
 * takes the parts the kernel sends over iopub out of the cell's outputs, writes each whole
 * file beside the run's record with the worker's store credentials (the kernel has none),
 * and gives the one small output the record keeps in their place.
 */
import { createHash } from 'node:crypto';
import type { IopubMessage } from '../notebook/outputs.js';
import { formatBytes } from '../notebook/bytes.js';
import {
  SAVED_FILE_MAX_BYTES,
  savedFileDisplay,
  savedFilePartSchema,
  savedFilePathProblem,
  savedFilePayload,
  type SavedFilePart,
} from '../notebook/saved-files.js';

interface Incoming {
  first: SavedFilePart;
  chunks: Buffer[];
  received: number;
}

export class SavedFiles {
  private readonly incoming = new Map<string, Incoming>();
  private readonly writes: Array<Promise<string | undefined>> = [];
  private readonly problems: string[] = [];

  /** `folder`: the run's folder in the store, where its record is. */
  constructor(
    private readonly folder: string,
    private readonly write: (location: string, data: Buffer) => Promise<void>,
  ) {}

  /**
   * undefined when `msg` is not a part of a saved file (collect it as usual); else the
   * messages to collect in its place: none, or the saved file's output once it is whole.
   */
  take(msg: IopubMessage): IopubMessage[] | undefined {
    const payload = savedFilePayload(msg.header.msg_type, msg.content);
    if (payload === undefined) return undefined;
    const parsed = savedFilePartSchema.safeParse(payload);
    if (!parsed.success) {
      this.problems.push(`a file part the kernel sent is malformed: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return [];
    }
    const part = parsed.data;
    const problem = savedFilePathProblem(part.path);
    if (problem) return this.refuse(part.path, `${part.path} was not saved: its path must be ${problem}`);
    if (part.bytes > SAVED_FILE_MAX_BYTES) {
      return this.refuse(part.path, `${part.path} was not saved: ${formatBytes(part.bytes)} is more than the ${formatBytes(SAVED_FILE_MAX_BYTES)} a cell may save to the run's folder`);
    }
    let file = this.incoming.get(part.path);
    if (part.part === 0) {
      file = { first: part, chunks: [], received: 0 };
      this.incoming.set(part.path, file);
    }
    if (!file || part.part !== file.chunks.length || part.sha256 !== file.first.sha256 || part.parts !== file.first.parts) {
      return this.refuse(part.path, `${part.path} was not saved: its parts arrived out of order`);
    }
    const chunk = Buffer.from(part.data, 'base64');
    file.chunks.push(chunk);
    file.received += chunk.length;
    if (file.received > file.first.bytes) return this.refuse(part.path, `${part.path} was not saved: more bytes arrived than the kernel announced`);
    if (part.part < part.parts - 1) return [];
    this.incoming.delete(part.path);
    const data = Buffer.concat(file.chunks);
    if (data.length !== part.bytes || createHash('sha256').update(data).digest('hex') !== part.sha256) {
      return this.refuse(part.path, `${part.path} was not saved: its bytes arrived damaged`);
    }
    const location = `${this.folder}/${part.path}`;
    this.writes.push(
      this.write(location, data).then(
        () => undefined,
        (err: unknown) => `${part.path} was not saved to ${location}: ${(err as Error).message}`,
      ),
    );
    const content = savedFileDisplay({ path: part.path, location, bytes: part.bytes, rows: part.rows, sha256: part.sha256 });
    return [{ header: { msg_type: 'display_data' }, content }];
  }

  private refuse(path: string, problem: string): IopubMessage[] {
    this.incoming.delete(path);
    this.problems.push(problem);
    return [];
  }

  /** After the cell ended: waits for the writes; what went wrong (one line each), or undefined when every file was saved. */
  async settle(): Promise<string | undefined> {
    const failed = (await Promise.all(this.writes)).filter((p): p is string => p !== undefined);
    for (const path of this.incoming.keys()) failed.push(`${path} was not saved: the kernel did not send all of it`);
    this.incoming.clear();
    const all = [...this.problems, ...failed];
    return all.length ? all.join('; ') : undefined;
  }
}
