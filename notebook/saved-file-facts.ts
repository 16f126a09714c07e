/**
 * A file a cell saved to its run's folder, as the record keeps it, and the words for what
 * it holds: apart from notebook/saved-files.ts (zod, the parts' schema) so that `show`
 * printing a view dev built loads neither.
 */
import { formatBytes } from './bytes.js';

export interface SavedFile {
  path: string;
  location: string;
  bytes: number;
  rows: number | null;
  sha256: string;
}

/** `(1834 rows, 1.2 MB)`: what a saved file holds. */
export function savedFileFacts(file: SavedFile): string {
  const rows = file.rows === null ? '' : `${file.rows} row${file.rows === 1 ? '' : 's'}, `;
  return `(${rows}${formatBytes(file.bytes)})`;
}
