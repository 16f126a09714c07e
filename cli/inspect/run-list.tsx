/**
 * The list of runs: newest first, narrowed by status (`s`) and a `/` search, refreshed
 * while it is on screen without moving the cursor, and read further (more visibility
 * pages) as the cursor reaches its end.
 */
import { Box, Text } from 'ink';
import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from 'react';
import type { InspectSource, ListFilter } from './data.js';
import { HelpOverlay, useHelp, type KeyHelp } from './help.js';
import { movement, useKeys, usePolling, useTyping } from './hooks.js';
import { editLine } from './line-input.js';
import { Status } from './status.js';
import { clamp, columnWidths, fit, fitColumns, fitMiddle, nextStatusFilter, parseSearch, runRows, windowStart, type RunListEntry, type StatusFilter } from './view-model.js';

/** Running runs change under the cursor; new runs appear: the list is read again this often. */
const REFRESH_MS = 2000;
/** A search's words may read all of visibility to find its matches: less often then. */
const SEARCH_REFRESH_MS = 10_000;
const HEADERS = ['RUN', 'NOTEBOOK', 'STATUS', 'STARTED', 'DURATION', 'FAILED'];
// A wide terminal shows whole ids and notebook names; fitColumns narrows them on a small one.
const CAPS = [Infinity, 64, 9, 12, 8, 60];
const KEYS: readonly KeyHelp[] = [
  { keys: '↑↓  j k', does: 'move' },
  { keys: 'pgup pgdn  g G', does: 'page, first, last (at the end, more runs are read)' },
  { keys: 'enter  →', does: 'open the run' },
  { keys: 'h', does: 'the run\'s history (its Temporal events)' },
  { keys: '/', does: 'search: words in the id, notebook, schedule or parameters; status:S notebook:N schedule:S' },
  { keys: 's', does: 'next status filter (all, running, paused, completed, failed, cancelled)' },
  { keys: 'n', does: 'only the selected run\'s notebook (n again: all notebooks)' },
  { keys: 'esc', does: 'clear the search' },
  { keys: ':', does: 'go to a screen: runs, schedules, history' },
];

export interface RunListState {
  filter: StatusFilter;
  /** The `/` search applied (view-model's parseSearch). */
  search: string;
  /** The selected run, by id, so a refresh that adds runs above it keeps it selected. */
  selected: string | null;
}

interface Props {
  source: InspectSource;
  /** Runs read at first; reaching the end reads this many more. */
  limit: number;
  height: number;
  columns: number;
  state: RunListState;
  onState: Dispatch<SetStateAction<RunListState>>;
  onOpen(runId: string): void;
  onHistory(runId: string): void;
  onQuit(): void;
  /** Told the run under the cursor on each render. */
  shown?: { current: string | null };
}

export function RunList({ source, limit: page, height, columns, state, onState, onOpen, onHistory, onQuit, shown }: Props) {
  const search = parseSearch(state.search);
  const status = search.status ?? state.filter;
  const [pages, setPages] = useState(1);
  const limit = page * pages;
  const filterKey = JSON.stringify([status, search.notebook, search.schedule, search.words]);
  const filter = (): ListFilter => ({ status, notebook: search.notebook, schedule: search.schedule, words: search.words, limit });
  // filterKey stands for the search's parts.
  const load = useCallback(() => source.listRuns(filter()), [source, filterKey, limit]);
  // A list read while the inspector started (cli/inspect/dev-source.ts) is drawn in the first frame.
  const { data: fresh, error, reload } = usePolling(load, () => (search.words.length > 0 ? SEARCH_REFRESH_MS : REFRESH_MS), `runs:${filterKey}:${limit}`, () => source.takeRead?.(filter()));
  // Reading further keeps the rows already shown until the longer list is in.
  const last = useRef<{ filterKey: string; data: RunListEntry[] } | null>(null);
  if (fresh) last.current = { filterKey, data: fresh };
  const data = fresh ?? (last.current?.filterKey === filterKey ? last.current.data : undefined);
  const more = data !== undefined && data.length >= limit;
  const rows = runRows(data ?? [], new Date());
  const found = rows.findIndex((r) => r.runId === state.selected);
  const position = found >= 0 ? found : 0;
  const bodyHeight = Math.max(1, height - 4);
  // The run under the cursor (the first one until it moves), for `:history`. Moves set it
  // at once, so keys after them in one input (`j:h`) already act on the run moved to.
  const cursor = useRef<string | null>(null);
  const drawn = rows[position]?.runId ?? null;
  const seen = useRef<string | null | undefined>(undefined);
  if (seen.current !== drawn) {
    seen.current = drawn;
    cursor.current = drawn;
    if (shown) shown.current = drawn;
  }
  // The cursor on the last row of a list that may go on: read the next page.
  const atEnd = more && rows.length > 0 && position === rows.length - 1;
  useEffect(() => {
    if (atEnd) setPages((p) => Math.max(p, Math.ceil(rows.length / page) + 1));
  }, [atEnd, rows.length, page]);

  // Mirrored in refs so that the keys after `?` or `/` in one input already go where they belong.
  const help = useHelp();
  const [typed, setTypedState] = useState<string | null>(null);
  const typedRef = useRef(typed);
  const setTyping = useTyping();
  const setTyped = (text: string | null) => {
    typedRef.current = text;
    setTyping(text !== null);
    setTypedState(text);
  };

  useKeys((input, key) => {
    if (typedRef.current !== null) {
      const edit = editLine(typedRef.current, input, key);
      if ('text' in edit) setTyped(edit.text);
      else {
        setTyped(null);
        if ('done' in edit) onState((s) => ({ ...s, search: edit.done.trim(), selected: null }));
      }
      return;
    }
    if (input === 'q') return onQuit();
    if (help.keyWhileShown(input, key)) return;
    // Updates from the latest state, not this render's: keys typed faster than frames all count.
    const move = (to: (at: number) => number) => {
      const at = Math.max(0, rows.findIndex((r) => r.runId === cursor.current));
      const next = rows[clamp(to(at), rows.length)]?.runId ?? null;
      cursor.current = next;
      if (shown) shown.current = next;
      onState((s) => ({ ...s, selected: next }));
    };
    const to = movement(input, key, bodyHeight, rows.length - 1);
    const selectedRun = data?.find((r) => r.run_id === cursor.current);
    if (input === '?') help.show();
    else if (to) move(to);
    else if (input === '/') setTyped(state.search);
    else if (input === 's') onState((s) => ({ ...s, filter: nextStatusFilter(s.filter), search: parseSearch(s.search).status ? withoutTerm(s.search, 'status') : s.search, selected: null }));
    else if (input === 'n' && selectedRun) {
      const on = parseSearch(state.search).notebook !== undefined;
      onState((s) => ({ ...s, search: on ? withoutTerm(s.search, 'notebook') : `${withoutTerm(s.search, 'notebook')} notebook:${selectedRun.notebook ?? ''}`.trim() }));
    } else if (key.escape && state.search) onState((s) => ({ ...s, search: '', selected: null }));
    // Esc otherwise does nothing on the top screen: only q (or ctrl-c) quits.
    else if (input === 'r') reload();
    else if (input === 'h' && selectedRun) onHistory(selectedRun.run_id);
    else if ((key.return || key.rightArrow) && selectedRun) onOpen(selectedRun.run_id);
  });

  const cells = rows.map((r) => [r.runId, r.notebook, r.status, r.started, r.duration, r.failed]);
  // The notebook, then the run id give way on a narrow terminal; status, times and the failed cell do not.
  const widths = fitColumns(columnWidths(HEADERS, cells, CAPS), columns, [[1, 8], [0, 16], [5, 12]]);
  const startRef = useRef(0);
  const start = (startRef.current = windowStart(position, rows.length, bodyHeight, startRef.current));
  const searchNote = state.search ? ` · search: ${state.search}` : '';
  const count = data ? `${rows.length}${more ? '+' : ''} shown` : 'loading…';
  const title = `millrace runs · status: ${status ?? 'all'}${searchNote} · ${count}`;

  if (help.shown) return <HelpOverlay screen="runs" keys={KEYS} height={height} />;
  const footer =
    typed !== null
      ? `/${typed}▏  (enter search · esc cancel)`
      : search.error
        ? `search: ${search.error}`
        : `↑↓/jk move · enter open · h history · / search · s status · n notebook · r refresh · : screens · ? help · q quit`;
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{title}</Text>
      <Text dimColor wrap="truncate-end">{`  ${HEADERS.map((h, i) => fit(h, widths[i]!)).join('  ')}`}</Text>
      {rows.length === 0 && data ? <Text dimColor>  no runs{status ? ` with status ${status}` : ''}{state.search ? ` matching ${state.search}` : ''}</Text> : null}
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
      <Text dimColor={typed === null && !search.error} color={search.error ? 'red' : undefined} wrap="truncate-end">{footer}</Text>
    </Box>
  );
}

/** The search without its `name:` term. */
function withoutTerm(search: string, name: string): string {
  return search
    .split(/\s+/)
    .filter((t) => t && !t.startsWith(`${name}:`))
    .join(' ');
}
