// The values a notebook recorded with scrapbook's `glue()`, and the run facts that sit
// beside them in `millrace metrics`, read from an output notebook. Pure: the caller reads
// the notebook from the store.
//
// scrapbook 0.5 (api.py glue, models.py _fetch_scraps) writes each value as a display
// output whose MIME type is `application/scrapbook.scrap.<encoder>+json` and whose value
// is the payload {name, data, encoder, version}. papermill's older `record()` wrote
// `application/papermill.record+json` as {name: data}; scrapbook still reads both, and so
// do we. As in scrapbook, a later glue of the same name replaces the earlier one.

import { notebookMillrace } from './millrace-metadata.js';
import { cellRecord, removeErrorMarkers } from './record.js';
import { isExecutable, type JsonObject, type Notebook, type Output } from './nbformat.js';

export const GLUE_PAYLOAD_PREFIX = 'application/scrapbook.scrap.';
export const RECORD_PAYLOAD_PREFIX = 'application/papermill.record';

/** One recorded value. */
export interface Scrap {
  name: string;
  /**
   * The value as scrapbook decodes it, for the `json` and `text` encoders. Other encoders
   * (`pandas`: base64 Parquet) keep their encoded data, which only Python can decode.
   */
  data: unknown;
  encoder: string;
  /** Index of the cell that recorded it (error banner cells not counted, as in `millrace show`). */
  cell: number;
}

/** Whether a scrap's data is the value itself, rather than an encoding of it. */
export function isDecoded(scrap: Pick<Scrap, 'encoder'>): boolean {
  return scrap.encoder === 'json' || scrap.encoder === 'text';
}

function jsonLoadsOrKeep(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** scrapbook's JsonEncoder/TextEncoder decode: a JSON string is loaded, text stays text. */
function decode(name: string, data: unknown, encoder: string, cell: number): Scrap {
  if (encoder === 'json' && typeof data === 'string') return { name, data: jsonLoadsOrKeep(data), encoder, cell };
  if (encoder === 'text' && typeof data !== 'string') return { name, data: typeof data === 'object' ? JSON.stringify(data) : String(data), encoder, cell };
  return { name, data, encoder, cell };
}

function scrapsOfOutput(output: Output, cell: number): Scrap[] {
  if (output.output_type !== 'display_data' && output.output_type !== 'execute_result') return [];
  const found: Scrap[] = [];
  for (const [mime, payload] of Object.entries(output.data ?? {})) {
    if (mime.startsWith(RECORD_PAYLOAD_PREFIX)) {
      // `application/papermill.record+json` → encoder `json`; the first key names the value.
      const encoder = mime.slice(RECORD_PAYLOAD_PREFIX.length + 1) || 'json';
      if (!payload || typeof payload !== 'object' || Array.isArray(payload)) continue;
      const first = Object.entries(payload as JsonObject)[0];
      if (first) found.push(decode(first[0], first[1], encoder, cell));
    } else if (mime.startsWith(GLUE_PAYLOAD_PREFIX) && mime.endsWith('+json')) {
      if (!payload || typeof payload !== 'object' || Array.isArray(payload)) continue;
      const p = payload as JsonObject;
      // scrapbook's schema (scrap.v1.json) requires name, data, encoder and version.
      if (typeof p['name'] !== 'string' || !('data' in p)) continue;
      const encoder = typeof p['encoder'] === 'string' ? p['encoder'] : mime.slice(GLUE_PAYLOAD_PREFIX.length, -'+json'.length);
      found.push(decode(p['name'], p['data'], encoder, cell));
    }
  }
  return found;
}

/** Every glued value of the notebook by name, in the order first recorded; the last glue of a name wins. */
export function extractScraps(nb: Notebook): Map<string, Scrap> {
  const scraps = new Map<string, Scrap>();
  removeErrorMarkers(nb).cells.forEach((cell, index) => {
    if (cell.cell_type !== 'code') return;
    for (const output of cell.outputs) {
      for (const scrap of scrapsOfOutput(output, index)) scraps.set(scrap.name, scrap);
    }
  });
  return scraps;
}

/** What `millrace metrics` puts beside the values: the run as its record tells it. */
export interface RunFacts {
  run_id: string | null;
  status: string;
  schedule: string | null;
  start_time: string | null;
  end_time: string | null;
  duration_s: number | null;
  parameters: JsonObject;
  /** Seconds per executed code cell, keyed by cell index (error banner cells not counted). */
  cell_durations: Record<string, number>;
}

/**
 * The run's facts from metadata.papermill and metadata.millrace. A record without a final
 * status is still running (or its worker is gone): papermill's end_time is null then. If
 * one of its cells failed, it is paused (`--on-failure pause`): a run that fails instead
 * records its final status as soon as the cell fails.
 * Throws MillraceMetadataError (a NotebookError) when metadata.millrace is malformed.
 */
export function runFacts(nb: Notebook): RunFacts {
  const pm = (nb.metadata.papermill ?? {}) as JsonObject;
  const mr = notebookMillrace(nb);
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const unfinished = nb.cells.some((c) => c.cell_type === 'code' && cellRecord(c)?.status === 'failed') ? 'paused' : 'running';
  const status = mr.status ?? (pm['end_time'] ? (pm['exception'] ? 'failed' : 'completed') : unfinished);
  const cell_durations: Record<string, number> = {};
  removeErrorMarkers(nb).cells.forEach((cell, index) => {
    if (!isExecutable(cell)) return;
    const duration = num(cellRecord(cell)?.duration);
    if (duration !== null) cell_durations[String(index)] = duration;
  });
  const parameters = pm['parameters'];
  return {
    run_id: mr.run_id ?? null,
    status,
    schedule: mr.schedule ?? null,
    start_time: str(pm['start_time']),
    end_time: str(pm['end_time']),
    duration_s: num(pm['duration']),
    parameters: parameters && typeof parameters === 'object' && !Array.isArray(parameters) ? (parameters as JsonObject) : {},
    cell_durations,
  };
}
