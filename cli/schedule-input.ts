/**
 * What `millrace schedule` accepts, validated with zod before anything reaches Temporal:
 * names, cron expressions, durations, time zones, policies, webhook URLs and backfill
 * ranges. Every refusal is one line that names the flag and says what would be right.
 */
import type { ScheduleOverlapPolicy } from '@temporalio/client';
import { z } from 'zod';
import { wallClock } from '../notebook/time.js';
import { isValidParamName } from '../notebook/params.js';
import { parseDuration } from './duration.js';
import { UserError } from './errors.js';

export const SCHEDULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SCHEDULE_ID_PREFIX = 'millrace-schedule-';

export const scheduleId = (name: string) => `${SCHEDULE_ID_PREFIX}${name}`;

export const scheduleNameSchema = z
  .string()
  .regex(SCHEDULE_NAME_PATTERN, 'a schedule name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit')
  .refine((n) => !n.includes('..'), 'a schedule name may not contain ".."');

const CRON_SHORTHANDS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];
const CRON_FIELD = /^[A-Za-z0-9*?,/-]+$/;

/**
 * The shape of a cron expression: 5 fields (minute hour day-of-month month day-of-week),
 * 6 with a year last, 7 with seconds first, or a shorthand. Value ranges are checked by
 * Temporal when the schedule is saved, and its message is passed on.
 */
export const cronSchema = z
  .string()
  .trim()
  .superRefine((expr, ctx) => {
    if (/^(CRON_)?TZ=/.test(expr)) {
      ctx.addIssue({ code: 'custom', message: 'give the time zone with --timezone, not in the expression' });
      return;
    }
    if (expr.startsWith('@every')) {
      ctx.addIssue({ code: 'custom', message: 'use --every DURATION for intervals' });
      return;
    }
    if (expr.startsWith('@')) {
      if (!CRON_SHORTHANDS.includes(expr)) ctx.addIssue({ code: 'custom', message: `unknown shorthand; use one of ${CRON_SHORTHANDS.join(' ')}` });
      return;
    }
    const fields = expr.split(/\s+/).filter(Boolean);
    if (fields.length < 5 || fields.length > 7) {
      ctx.addIssue({
        code: 'custom',
        message: `a cron expression has 5 fields (minute hour day-of-month month day-of-week), 6 with a year or 7 with seconds first; this has ${fields.length}`,
      });
      return;
    }
    const bad = fields.find((f) => !CRON_FIELD.test(f));
    if (bad) ctx.addIssue({ code: 'custom', message: `"${bad}" is not a cron field (digits, names, * , - / ?)` });
  });

const DURATION_HINT = 'a duration is a number and a unit (s, m, h, d, w), e.g. 30s, 15m, 1h30m, 1d';

export const durationSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: DURATION_HINT });
    return z.NEVER;
  }
  return ms;
});

/** Temporal rounds intervals to whole seconds and refuses anything under one. */
export const intervalSchema = durationSchema.refine((ms) => ms >= 1000, "Temporal's shortest interval is 1s").refine(
  (ms) => ms % 1000 === 0,
  'an interval is a whole number of seconds',
);

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export const timezoneSchema = z
  .string()
  .refine((tz) => tz.length > 0 && isTimeZone(tz), 'unknown time zone; use an IANA name such as UTC, Europe/Paris or America/New_York');

/** One to one onto Temporal's overlap policies (string values: no need to load the client to validate). */
export const OVERLAP = {
  skip: 'SKIP',
  'buffer-one': 'BUFFER_ONE',
  'buffer-all': 'BUFFER_ALL',
  'cancel-other': 'CANCEL_OTHER',
  'terminate-other': 'TERMINATE_OTHER',
  'allow-all': 'ALLOW_ALL',
} as const satisfies Record<string, ScheduleOverlapPolicy>;
export type OverlapName = keyof typeof OVERLAP;
export const OVERLAP_NAMES = Object.keys(OVERLAP) as OverlapName[];

export function overlapName(policy: string | undefined): OverlapName {
  return (OVERLAP_NAMES.find((n) => OVERLAP[n] === policy) ?? 'skip') as OverlapName;
}

export const overlapSchema = z.enum(OVERLAP_NAMES as [OverlapName, ...OverlapName[]], {
  error: `choose one of ${OVERLAP_NAMES.join(', ')}`,
});

export const notifyOnSchema = z.enum(['failure', 'success', 'always'], { error: 'choose one of failure, success, always' });

export const webhookUrlSchema = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
  } catch {
    return false;
  }
}, 'a webhook is an http:// or https:// URL');

export const paramNameFlagSchema = z.string().refine(isValidParamName, 'a parameter name is a Python identifier');

/** Runs the schema on a flag's value; a failure is one line naming the flag and the value. */
export function flag<T extends z.ZodType>(name: string, schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const shown = typeof value === 'string' ? ` ${JSON.stringify(value)}` : '';
  throw new UserError(`${name}${shown}: ${parsed.error.issues[0]?.message}`);
}

/** The spec flags of `create` and `update`: exactly one of --cron and --every. */
export interface SpecFlags {
  cron?: string;
  every?: string;
}

export type ParsedSpec = { kind: 'cron'; cron: string; text: string } | { kind: 'every'; everyMs: number; text: string };

export function parseSpec(flags: SpecFlags, required: boolean): ParsedSpec | undefined {
  if (flags.cron !== undefined && flags.every !== undefined) throw new UserError('give either --cron or --every, not both');
  if (flags.cron !== undefined) {
    const cron = flag('--cron', cronSchema, flags.cron);
    return { kind: 'cron', cron, text: `cron ${cron}` };
  }
  if (flags.every !== undefined) {
    const everyMs = flag('--every', intervalSchema, flags.every);
    return { kind: 'every', everyMs, text: `every ${flags.every.trim()}` };
  }
  if (required) throw new UserError('a schedule needs --cron EXPR or --every DURATION');
  return undefined;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A backfill bound: an ISO 8601 time with `Z` or an offset, or a date, which means the start
 * of that day in the schedule's time zone (for --end: the end of that day, so the range
 * includes it, as an Airflow backfill does).
 */
export function parseBound(flagName: '--start' | '--end', text: string, timeZone: string): Date {
  const value = text.trim();
  if (DATE_ONLY.test(value)) {
    const start = zonedMidnight(value, timeZone);
    if (!start) throw new UserError(`${flagName} ${JSON.stringify(text)}: not a date`);
    return flagName === '--end' ? new Date(zonedMidnight(nextDay(value), timeZone)!.getTime() - 1) : start;
  }
  const time = DATE_TIME_WITH_ZONE.test(value) ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw new UserError(`${flagName} ${JSON.stringify(text)}: give an ISO 8601 time with Z or an offset (2024-01-01T06:00:00Z), or a date (2024-01-01)`);
  }
  return time;
}

function nextDay(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** 00:00 of `date` on the wall clock of `timeZone`. */
function zonedMidnight(date: string, timeZone: string): Date | undefined {
  const guess = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(guess.getTime()) || guess.toISOString().slice(0, 10) !== date) return undefined;
  // Two rounds of "subtract the zone's offset at this instant" settle across DST changes.
  let t = guess.getTime();
  for (let i = 0; i < 2; i++) t = guess.getTime() - offsetMs(new Date(t), timeZone);
  return new Date(t);
}

function offsetMs(time: Date, timeZone: string): number {
  const wall = Date.parse(`${wallClock(time, timeZone)}Z`);
  return wall - Math.floor(time.getTime() / 1000) * 1000;
}

/** `90000` → `1m30s`, for showing intervals and windows. */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('') || `${ms}ms`;
}
