import { Box, Text } from 'ink';
import { useRef } from 'react';
import { Status } from './status.js';
import { fit, formatDuration, windowStart, type CellRow } from './view-model.js';

const TYPE_NAMES: Record<CellRow['cellType'], string> = { code: 'code', markdown: 'md', raw: 'raw' };

/**
 * Per-cell rows (index, type, status, time, first line of source), a window around the
 * selection. The first line is cut to what the terminal leaves after the cell's error.
 */
export function CellTable({ rows, position, height, columns }: { rows: readonly CellRow[]; position: number; height: number; columns: number }) {
  const startRef = useRef(0);
  const start = (startRef.current = windowStart(position, rows.length, height, startRef.current));
  const indexWidth = Math.max(4, String(rows.length).length);
  return (
    <Box flexDirection="column">
      <Text dimColor wrap="truncate-end">{`  ${fit('CELL', indexWidth)}  ${fit('TYPE', 4)}  ${fit('STATUS', 9)}  ${fit('TIME', 8)}  SOURCE`}</Text>
      {rows.slice(start, start + height).map((r, i) => {
        const selected = start + i === position;
        const carried = r.carriedOver ? ' (carried over)' : '';
        const error = r.error ? `  ${r.error.ename}: ${r.error.evalue}`.split('\n')[0]! : '';
        const room = columns - (2 + indexWidth + 2 + 4 + 2 + 9 + 2 + 8 + 2) - carried.length - Math.min(error.length, 40);
        return (
          <Text key={r.index} wrap="truncate-end" inverse={selected}>
            {selected ? '› ' : '  '}
            {fit(String(r.index), indexWidth)}  {fit(TYPE_NAMES[r.cellType], 4)}  <Status value={r.status} width={9} />  {fit(formatDuration(r.durationS), 8)}  {fit(r.summary, Math.max(12, room)).trimEnd()}
            {carried ? <Text dimColor>{carried}</Text> : null}
            {error ? <Text color="red">{error}</Text> : null}
          </Text>
        );
      })}
    </Box>
  );
}
