/**
 * One run: its header, a table of its cells, and the selected cell's source and outputs.
 * The failed cell is selected when the run opens; a live run is read again every second.
 */
import { Box, Text, useInput } from 'ink';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { RunAction } from './actions.js';
import { CellDetail } from './cell-detail.js';
import { CellTable } from './cell-table.js';
import { RunNotFound, type InspectSource } from './data.js';
import { usePolling } from './hooks.js';
import { RunHeader } from './run-header.js';
import { cellDetailLines, cellRows, clamp, initialCellPosition, resumedFrom, runHeader } from './view-model.js';

const LIVE_REFRESH_MS = 1000;
const RETRY_MS = 2000;

interface Props {
  source: InspectSource;
  runId: string;
  height: number;
  actions: readonly RunAction[];
  onOpen(runId: string): void;
  onBack(): void;
}

export function RunView({ source, runId, height, actions, onOpen, onBack }: Props) {
  const load = useCallback(() => source.loadRun(runId), [source, runId]);
  const { data, error, reload } = usePolling(
    load,
    (d, err) => (err instanceof RunNotFound ? null : err ? RETRY_MS : d?.summary.status === 'running' ? LIVE_REFRESH_MS : null),
    runId,
  );
  const [position, setPosition] = useState(0);
  const [focus, setFocus] = useState<'cells' | 'detail'>('cells');
  const [offset, setOffset] = useState(0);
  const [message, setMessage] = useState<string | null>(null);
  const positioned = useRef(false);

  const rows = data ? cellRows(data.notebook, data.progress) : [];
  useEffect(() => {
    // Once, when the cells are first known: later refreshes keep the user's selection.
    if (positioned.current || rows.length === 0 || !data) return;
    positioned.current = true;
    setPosition(initialCellPosition(rows, data.failure?.failed_cell ?? null));
  }, [rows.length, data]);

  const header = data ? runHeader(data, new Date()) : [];
  const row = rows[clamp(position, rows.length)];
  const lines = row && data ? cellDetailLines(data.notebook?.cells[row.index]) : [];
  const available = actions.filter((a) => data && a.appliesTo(data.summary));

  // Rows: header, then table (header + rows) and the detail title, the detail, a footer line.
  const body = Math.max(4, height - header.length - 2);
  const tableHeight = focus === 'detail' ? 0 : Math.min(rows.length, Math.max(3, Math.floor(body * 0.4)));
  const detailHeight = Math.max(1, body - (focus === 'detail' ? 0 : tableHeight + 1) - 1);
  const maxOffset = Math.max(0, lines.length - detailHeight);

  const select = (p: number) => {
    setPosition(clamp(p, rows.length));
    setOffset(0);
  };
  const scroll = (o: number) => setOffset(Math.max(0, Math.min(o, maxOffset)));

  useInput((input, key) => {
    if (focus === 'detail') {
      if (key.escape || input === 'q' || key.leftArrow || key.tab || key.return) setFocus('cells');
      else if (key.upArrow || input === 'k') scroll(offset - 1);
      else if (key.downArrow || input === 'j') scroll(offset + 1);
      else if (key.pageUp) scroll(offset - detailHeight);
      else if (key.pageDown || input === ' ') scroll(offset + detailHeight);
      else if (input === 'g' || key.home) scroll(0);
      else if (input === 'G' || key.end) scroll(maxOffset);
      return;
    }
    if (key.escape || input === 'q' || key.leftArrow) onBack();
    else if (key.upArrow || input === 'k') select(position - 1);
    else if (key.downArrow || input === 'j') select(position + 1);
    else if (key.pageUp) select(position - tableHeight);
    else if (key.pageDown) select(position + tableHeight);
    else if (input === 'g' || key.home) select(0);
    else if (input === 'G' || key.end) select(rows.length - 1);
    else if ((key.return || key.rightArrow || key.tab) && row) setFocus('detail');
    else if (input === 'f' && data && resumedFrom(data)) onOpen(resumedFrom(data)!.run_id);
    else if (input === 'a' && data && data.resumedAs.length > 0) onOpen(data.resumedAs[data.resumedAs.length - 1]!.run_id);
    else {
      const action = available.find((a) => a.key === input);
      if (action) {
        setMessage(`${action.label}…`);
        action
          .perform({ runId, cellIndex: row?.index ?? null })
          .then(
            (line) => setMessage(line),
            (err: unknown) => setMessage(`${action.label} failed: ${(err as Error).message.split('\n')[0]}`),
          )
          .finally(reload);
      }
    }
  });

  if (!data) {
    return (
      <Box flexDirection="column">
        <Text bold>{runId}</Text>
        {error ? <Text color="red">{error.message.split('\n')[0]}</Text> : <Text dimColor>loading…</Text>}
        <Text dimColor>esc/q back</Text>
      </Box>
    );
  }

  const keys =
    focus === 'detail'
      ? '↑↓/jk scroll · pgup/pgdn page · g/G top/end · esc back to cells'
      : [
          '↑↓/jk cell · enter show cell · esc/q back',
          resumedFrom(data) ? 'f resumed from' : '',
          data.resumedAs.length > 0 ? 'a resumed as' : '',
          ...available.map((a) => `${a.key} ${a.label}`),
        ]
          .filter(Boolean)
          .join(' · ');

  return (
    <Box flexDirection="column">
      <RunHeader fields={header} />
      {focus === 'cells' && rows.length > 0 ? <CellTable rows={rows} position={clamp(position, rows.length)} height={tableHeight} dim={false} /> : null}
      {row ? (
        <Text bold wrap="truncate-end">
          {`cell ${row.index} · ${row.status}`}
          <Text dimColor>{lines.length > detailHeight ? ` · lines ${offset + 1}-${Math.min(lines.length, offset + detailHeight)} of ${lines.length}` : ''}</Text>
        </Text>
      ) : (
        <Text dimColor>no cells recorded yet</Text>
      )}
      <CellDetail lines={lines} offset={Math.min(offset, maxOffset)} height={detailHeight} />
      {error ? <Text color="red" wrap="truncate-end">refresh failed: {error.message.split('\n')[0]}</Text> : null}
      <Text dimColor wrap="truncate-end">{message ?? keys}</Text>
    </Box>
  );
}
