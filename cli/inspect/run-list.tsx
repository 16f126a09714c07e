/** The list of runs: newest first, a status filter, refreshed while it is on screen. */
import { Box, Text } from 'ink';
import { useCallback, useRef, useState, type Dispatch, type SetStateAction } from 'react';
import type { InspectSource } from './data.js';
import { HelpOverlay, type KeyHelp } from './help.js';
import { movement, useKeys, usePolling } from './hooks.js';
import { Status } from './status.js';
import { clamp, columnWidths, fit, fitColumns, fitMiddle, nextStatusFilter, runRows, windowStart, type StatusFilter } from './view-model.js';

/** Running runs change under the cursor; new runs appear: the list is read again this often. */
const REFRESH_MS = 2000;
const HEADERS = ['RUN', 'NOTEBOOK', 'STATUS', 'STARTED', 'DURATION', 'FAILED'];
// A wide terminal shows whole ids and notebook names; fitColumns narrows them on a small one.
const CAPS = [Infinity, 64, 9, 12, 8, 60];
const KEYS: readonly KeyHelp[] = [
  { keys: '↑↓  j k', does: 'move' },
  { keys: 'pgup pgdn  g G', does: 'page, first, last' },
  { keys: 'enter  →', does: 'open the run' },
  { keys: '/  s', does: 'next status filter (all, running, paused, completed, failed, cancelled)' },
];

export interface RunListState {
  filter: StatusFilter;
  /** The selected run, by id, so a refresh that adds runs above it keeps it selected. */
  selected: string | null;
}

interface Props {
  source: InspectSource;
  limit: number;
  height: number;
  columns: number;
  state: RunListState;
  onState: Dispatch<SetStateAction<RunListState>>;
  onOpen(runId: string): void;
  onQuit(): void;
}

export function RunList({ source, limit, height, columns, state, onState, onOpen, onQuit }: Props) {
  const load = useCallback(() => source.listRuns({ status: state.filter, limit }), [source, state.filter, limit]);
  const { data, error, reload } = usePolling(load, () => REFRESH_MS, `runs:${state.filter ?? 'all'}:${limit}`);
  const rows = runRows(data ?? [], new Date());
  const found = rows.findIndex((r) => r.runId === state.selected);
  const position = found >= 0 ? found : 0;
  const bodyHeight = Math.max(1, height - 4);

  // Mirrored in a ref so that the keys after `?` in one input already go to the help.
  const [help, setHelpState] = useState(false);
  const helpRef = useRef(help);
  const setHelp = (on: boolean) => {
    helpRef.current = on;
    setHelpState(on);
  };

  useKeys((input, key) => {
    if (input === 'q') return onQuit();
    if (helpRef.current) {
      if (key.escape || input === '?') setHelp(false);
      return;
    }
    // Updates from the latest state, not this render's: keys typed faster than frames all count.
    const move = (to: (at: number) => number) =>
      onState((s) => {
        const at = Math.max(0, rows.findIndex((r) => r.runId === s.selected));
        return { ...s, selected: rows[clamp(to(at), rows.length)]?.runId ?? null };
      });
    const to = movement(input, key, bodyHeight, rows.length - 1);
    // Esc on the top screen does nothing: only q (or ctrl-c) quits.
    if (input === '?') setHelp(true);
    else if (to) move(to);
    else if (input === '/' || input === 's') onState((s) => ({ filter: nextStatusFilter(s.filter), selected: null }));
    else if (input === 'r') reload();
    else if ((key.return || key.rightArrow) && rows[position]) onOpen(rows[position].runId);
  });

  const cells = rows.map((r) => [r.runId, r.notebook, r.status, r.started, r.duration, r.failed]);
  // The notebook, then the run id give way on a narrow terminal; status, times and the failed cell do not.
  const widths = fitColumns(columnWidths(HEADERS, cells, CAPS), columns, [[1, 8], [0, 16], [5, 12]]);
  const startRef = useRef(0);
  const start = (startRef.current = windowStart(position, rows.length, bodyHeight, startRef.current));
  const title = `millrace runs · status: ${state.filter ?? 'all'} · ${data ? `${rows.length} shown` : 'loading…'}`;

  if (help) return <HelpOverlay screen="runs" keys={KEYS} height={height} />;
  return (
    <Box flexDirection="column">
      <Text bold>{title}</Text>
      <Text dimColor wrap="truncate-end">{`  ${HEADERS.map((h, i) => fit(h, widths[i]!)).join('  ')}`}</Text>
      {rows.length === 0 && data ? <Text dimColor>  no runs{state.filter ? ` with status ${state.filter}` : ''}</Text> : null}
      {rows.slice(start, start + bodyHeight).map((r, i) => {
        const selected = start + i === position;
        return (
          <Text key={r.runId} wrap="truncate-end" inverse={selected}>
            {selected ? '› ' : '  '}
            {fitMiddle(r.runId, widths[0]!)}  {fit(r.notebook, widths[1]!)}  <Status value={r.status} width={widths[2]!} />  {fit(r.started, widths[3]!)}  {fit(r.duration, widths[4]!)}  <Text color="red">{fit(r.failed, widths[5]!).trimEnd()}</Text>
          </Text>
        );
      })}
      {error ? <Text color="red" wrap="truncate-end">cannot list runs: {error.message.split('\n')[0]}</Text> : null}
      <Text dimColor wrap="truncate-end">↑↓/jk move · enter open · / or s filter by status · r refresh · ? help · q quit</Text>
    </Box>
  );
}
