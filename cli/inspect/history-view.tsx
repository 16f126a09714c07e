/**
 * The History screen of one run (`h` on a run, or `:history`): its Temporal events as a
 * timeline (history.ts), newest at the bottom, read again while the run is live.
 */
import { Box, Text } from 'ink';
import { useCallback, useRef, useState } from 'react';
import type { InspectSource } from './data.js';
import { HelpOverlay, useHelp, type KeyHelp } from './help.js';
import type { TimelineRow, TimelineTone } from './history.js';
import { movement, useKeys, usePolling } from './hooks.js';
import { clamp, fit, fitMiddle, windowStart } from './view-model.js';

const REFRESH_MS = 2000;
const KEYS: readonly KeyHelp[] = [
  { keys: '↑↓  j k', does: 'move' },
  { keys: 'pgup pgdn  g G', does: 'page, first, last event' },
  { keys: 'esc  ←', does: 'back' },
  { keys: ':', does: 'go to a screen: runs, schedules, history' },
];
const TONES: Record<TimelineTone, string | undefined> = { ok: 'green', error: 'red', warn: 'yellow', note: undefined, plain: undefined };

interface Props {
  source: InspectSource;
  runId: string;
  height: number;
  columns: number;
  onBack(): void;
  onQuit(): void;
}

/** `10:15:03.2`: the time of day (UTC) to a tenth of a second; the date is in the title. */
function clock(iso: string): string {
  const m = /T(\d\d:\d\d:\d\d)(\.\d)?/.exec(iso);
  return m ? `${m[1]}${m[2] ?? '.0'}` : iso;
}

export function HistoryView({ source, runId, height, columns, onBack, onQuit }: Props) {
  const load = useCallback(() => (source.loadHistory ? source.loadHistory(runId) : Promise.reject(new Error('no history here'))), [source, runId]);
  const { data, error, reload } = usePolling(load, (d) => (d?.live ? REFRESH_MS : d ? null : REFRESH_MS), `history:${runId}`);
  const rows: readonly TimelineRow[] = data?.rows ?? [];
  /** null: follow the last event. */
  const [chosen, setChosen] = useState<number | null>(null);
  const position = clamp(chosen ?? rows.length - 1, rows.length);
  const bodyHeight = Math.max(1, height - 3);
  const help = useHelp();

  useKeys((input, key) => {
    if (input === 'q') return onQuit();
    if (help.keyWhileShown(input, key)) return;
    const to = movement(input, key, bodyHeight, rows.length - 1);
    if (input === '?') help.show();
    else if (key.escape || key.leftArrow) onBack();
    else if (input === 'r') reload();
    else if (to) setChosen((at) => clamp(to(at ?? position), rows.length));
  });

  const startRef = useRef(0);
  if (help.shown) return <HelpOverlay screen="history" keys={KEYS} height={height} />;
  const start = (startRef.current = windowStart(position, rows.length, bodyHeight, startRef.current));
  const workerWidth = Math.min(28, Math.max(6, ...rows.map((r) => (r.worker ?? '').length)));
  const day = rows[0]?.time.slice(0, 10) ?? '';
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{`history · ${runId}${day ? ` · ${day} (UTC)` : ''} · ${data ? `${rows.length} events` : 'loading…'}`}</Text>
      <Text dimColor wrap="truncate-end">{`  ${fit('TIME', 10)}  ${fit('WORKER', workerWidth)}  WHAT`}</Text>
      {rows.slice(start, start + bodyHeight).map((r, i) => {
        const selected = start + i === position;
        return (
          <Text key={start + i} wrap="truncate-end" inverse={selected}>
            {selected ? '› ' : '  '}
            {fit(clock(r.time), 10)}  <Text dimColor>{fitMiddle(r.worker ?? '', workerWidth)}</Text>  <Text color={TONES[r.tone]}>{r.what}</Text>
          </Text>
        );
      })}
      {error ? <Text color="red" wrap="truncate-end">cannot read the history: {error.message.split('\n')[0]}</Text> : null}
      <Text dimColor wrap="truncate-end">{`↑↓/jk move · g/G first/last · esc back · r refresh · : screens · ? help · q quit`.slice(0, Math.max(10, columns))}</Text>
    </Box>
  );
}
