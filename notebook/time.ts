// Timestamps in the exact spellings papermill and nbclient write. Callers pass times
// in (this module never reads a clock), as ISO 8601 strings in any common form.

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/i;

export interface ParsedTime {
  /** Microseconds since the Unix epoch (UTC). */
  epochMicros: number;
  /** The wall-clock fields as written (before any offset is applied). */
  wall: { y: number; mo: number; d: number; h: number; mi: number; s: number; us: number };
}

/** Parse an ISO 8601 timestamp; a time without offset is taken as UTC. Throws on bad input. */
export function parseIsoTime(iso: string): ParsedTime {
  const m = ISO.exec(iso.trim());
  if (!m) throw new RangeError(`not an ISO 8601 timestamp: ${JSON.stringify(iso)}`);
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const us = Number((m[7] ?? '').padEnd(6, '0').slice(0, 6));
  let offsetMin = 0;
  const tz = m[8];
  if (tz && tz.toUpperCase() !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
  }
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) - offsetMin * 60_000;
  return { epochMicros: ms * 1000 + us, wall: { y, mo, d, h, mi, s, us } };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * Python `datetime.now(timezone.utc).isoformat()`, papermill's spelling:
 * 2024-05-01T12:00:00.123456+00:00 (no fraction when it is zero).
 */
export function papermillTime(iso: string): string {
  const { epochMicros } = parseIsoTime(iso);
  const ms = Math.floor(epochMicros / 1000);
  const base = new Date(ms).toISOString().slice(0, 19); // YYYY-MM-DDTHH:MM:SS
  const micro = (((ms % 1000) + 1000) % 1000) * 1000 + (epochMicros - ms * 1000);
  return micro === 0 ? `${base}+00:00` : `${base}.${pad(micro, 6)}+00:00`;
}

/** (end - start).total_seconds(), as papermill computes cell and run durations. */
export function durationSeconds(startIso: string, endIso: string): number {
  return (parseIsoTime(endIso).epochMicros - parseIsoTime(startIso).epochMicros) / 1e6;
}

/**
 * nbclient's timestamp(msg) for metadata.execution: jupyter_client parses
 * header.date and nbclient formats it with "%Y-%m-%dT%H:%M:%S.%fZ" (wall-clock
 * fields, 6-digit fraction, a literal Z). undefined when the date does not parse,
 * where nbclient would use the current time instead.
 */
export function nbclientTimestamp(date: string | undefined): string | undefined {
  if (!date || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$/.test(date)) return undefined;
  const { wall: w } = parseIsoTime(date);
  return `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}.${pad(w.us, 6)}Z`;
}

/** The wall-clock time `YYYY-MM-DDTHH:mm:ss` that `time` shows in `timeZone` (IANA name). */
export function wallClock(time: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(time)
      .map((p) => [p.type, p.value]),
  );
  return `${parts['year']}-${parts['month']}-${parts['day']}T${parts['hour']}:${parts['minute']}:${parts['second']}`;
}
