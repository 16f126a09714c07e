/**
 * The Schedules screen (`:schedules`): every schedule with its next and last run and
 * whether it is paused; `p` pauses or unpauses, `t` triggers a run (after `y`), `b`
 * backfills a range typed on one line, Enter lists the schedule's runs. The actions are
 * `millrace schedule`'s own functions (cli/commands/schedule.ts), given by the command.
 */
import { Box, Text } from 'ink';
import { useCallback, useRef, useState } from 'react';
import type { ScheduleRow } from '../commands/schedule.js';
import type { InspectSource } from './data.js';
import { HelpOverlay, useHelp, type KeyHelp } from './help.js';
import { movement, useKeys, usePolling, useTyping } from './hooks.js';
import { editLine } from './line-input.js';
import { Status } from './status.js';
import { clamp, columnWidths, fit, fitColumns, formatShortTime, windowStart } from './view-model.js';

const REFRESH_MS = 3000;
const HEADERS = ['NAME', 'NOTEBOOK', 'SPEC', 'NEXT RUN', 'LAST RUN', 'LAST STATUS', 'STATE'];

/** What the Schedules screen does to a schedule; each resolves to the line to show. */
export interface ScheduleActions {
  setPaused(name: string, paused: boolean): Promise<string>;
  trigger(name: string): Promise<string>;
  /** `start` and `end` as `schedule backfill --start/--end` take them. */
  backfill(name: string, start: string, end: string): Promise<string>;
}

const KEYS: readonly KeyHelp[] = [
  { keys: '↑↓  j k', does: 'move' },
  { keys: 'pgup pgdn  g G', does: 'page, first, last' },
  { keys: 'enter', does: 'the schedule\'s runs' },
  { keys: 'p', does: 'pause the schedule, or unpause it' },
  { keys: 't then y', does: 'trigger a run now' },
  { keys: 'b', does: 'backfill: type START END (2026-12-01 2026-12-03, or ISO times), enter' },
  { keys: 'esc  ←', does: 'back' },
  { keys: ':', does: 'go to a screen: runs, schedules, history' },
];

interface Props {
  source: InspectSource;
  actions: ScheduleActions | undefined;
  height: number;
  columns: number;
  onRuns(schedule: string): void;
  onBack(): void;
  onQuit(): void;
}

export function SchedulesView({ source, actions, height, columns, onRuns, onBack, onQuit }: Props) {
  const load = useCallback(() => (source.listSchedules ? source.listSchedules() : Promise.reject(new Error('no schedules here'))), [source]);
  const { data, error, reload } = usePolling(load, () => REFRESH_MS, 'schedules');
  const rows: readonly ScheduleRow[] = data ?? [];
  // Mirrored in a ref: a key after a move in the same input acts on the schedule moved to.
  const [selected, setSelectedState] = useState<string | null>(null);
  const selectedRef = useRef(selected);
  const indexOf = (name: string | null) => Math.max(0, rows.findIndex((r) => r.name === name));
  const position = indexOf(selected);
  const bodyHeight = Math.max(1, height - 4);
  const [message, setMessage] = useState<string | null>(null);
  const armed = useRef<string | null>(null);
  const busy = useRef(false);
  const help = useHelp();
  /** The backfill range being typed, for the schedule named. */
  const [range, setRangeState] = useState<{ name: string; text: string } | null>(null);
  const rangeRef = useRef(range);
  const setTyping = useTyping();
  const setRange = (r: { name: string; text: string } | null) => {
    rangeRef.current = r;
    setTyping(r !== null);
    setRangeState(r);
  };

  const perform = (what: string, work: () => Promise<string>) => {
    busy.current = true;
    setMessage(`${what}…`);
    work()
      .then(setMessage, (err: unknown) => setMessage(`${what} failed: ${(err as Error).message.split('\n')[0]}`))
      .finally(() => {
        busy.current = false;
        reload();
      });
  };

  useKeys((input, key) => {
    const typing = rangeRef.current;
    if (typing) {
      const edit = editLine(typing.text, input, key);
      if ('text' in edit) return setRange({ ...typing, text: edit.text });
      setRange(null);
      if (!('done' in edit) || !actions) return setMessage(null);
      const [start, end, ...rest] = edit.done.trim().split(/\s+/);
      if (!start || !end || rest.length > 0) return setMessage('backfill: type START END, e.g. 2026-12-01 2026-12-03');
      return perform(`backfill of ${typing.name}`, () => actions.backfill(typing.name, start, end));
    }
    const confirming = armed.current;
    armed.current = null;
    if (confirming !== null) {
      if (input === 'y' && actions && !busy.current) perform(`trigger of ${confirming}`, () => actions.trigger(confirming));
      else setMessage(null);
      return;
    }
    if (input === 'q') return onQuit();
    if (help.keyWhileShown(input, key)) return;
    const to = movement(input, key, bodyHeight, rows.length - 1);
    const row = rows[indexOf(selectedRef.current)];
    if (input === '?') help.show();
    else if (key.escape || key.leftArrow) onBack();
    else if (input === 'r') reload();
    else if (to) {
      selectedRef.current = rows[clamp(to(indexOf(selectedRef.current)), rows.length)]?.name ?? null;
      setSelectedState(selectedRef.current);
    }
    else if (key.return && row) onRuns(row.name);
    else if (!row || !actions || busy.current) return;
    else if (input === 'p') perform(`${row.paused ? 'unpause' : 'pause'} of ${row.name}`, () => actions.setPaused(row.name, !row.paused));
    else if (input === 't') {
      armed.current = row.name;
      setMessage(`trigger a run of ${row.name} now${row.paused ? ' (it is paused: the run starts anyway)' : ''}? y triggers; any other key cancels`);
    } else if (input === 'b') setRange({ name: row.name, text: '' });
  });

  const startRef = useRef(0);
  if (help.shown) return <HelpOverlay screen="schedules" keys={KEYS} height={height} />;
  const start = (startRef.current = windowStart(position, rows.length, bodyHeight, startRef.current));
  const cells = rows.map((r) => [
    r.name,
    r.notebook,
    `${r.spec}${r.timezone === 'UTC' ? '' : ` (${r.timezone})`}`,
    r.paused ? '' : formatShortTime(r.next_run),
    r.last_run?.run_id ?? '',
    r.last_run?.status ?? '',
    r.paused ? 'paused' : 'active',
  ]);
  const widths = fitColumns(columnWidths(HEADERS, cells, [32, 32, 24, 12, Infinity, 11, 6]), columns, [[4, 12], [1, 8], [2, 8]]);
  const footer = range
    ? `backfill ${range.name} from START to END: ${range.text}▏  (enter queues · esc cancels)`
    : (message ?? '↑↓/jk move · enter runs · p pause/unpause · t trigger · b backfill · r refresh · esc back · ? help');
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{`millrace schedules · ${data ? `${rows.length} schedules` : 'loading…'}`}</Text>
      <Text dimColor wrap="truncate-end">{`  ${HEADERS.map((h, i) => fit(h, widths[i]!)).join('  ')}`}</Text>
      {rows.length === 0 && data ? <Text dimColor>  no schedules (see `millrace schedule create`)</Text> : null}
      {rows.slice(start, start + bodyHeight).map((r, i) => {
        const c = cells[start + i]!;
        const isSelected = start + i === position;
        return (
          <Text key={r.name} wrap="truncate-end" inverse={isSelected}>
            {isSelected ? '› ' : '  '}
            {c.slice(0, 5).map((v, k) => fit(v, widths[k]!)).join('  ')}  <Status value={c[5]!} width={widths[5]!} />  <Text color={r.paused ? 'magenta' : 'green'}>{c[6]}</Text>
          </Text>
        );
      })}
      {error ? <Text color="red" wrap="truncate-end">cannot list schedules: {error.message.split('\n')[0]}</Text> : null}
      <Text dimColor={!range && !message} wrap="truncate-end">{footer}</Text>
    </Box>
  );
}
