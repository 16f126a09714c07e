import { Box, Text } from 'ink';
import type { DetailLine, LineTone } from './view-model.js';

const TONES: Record<LineTone, { color?: string; dimColor?: boolean }> = {
  heading: { dimColor: true },
  source: {},
  stdout: {},
  stderr: { color: 'red' },
  result: { color: 'cyan' },
  error: {},
  note: { dimColor: true },
};

/**
 * A window of a cell's source and outputs, wrapped to the pane's width already (run-view):
 * each line is one row, cut rather than wrapped should Ink measure it wider than we did.
 */
export function CellDetail({ lines, offset, height }: { lines: readonly DetailLine[]; offset: number; height: number }) {
  // NO_COLOR (no-color.org): the outputs' own colours go too (Ink's are off, see cli/main.ts).
  const noColor = Boolean(process.env['NO_COLOR']);
  return (
    <Box flexDirection="column" height={height} overflow="hidden">
      {lines.slice(offset, offset + height).map((line, i) => (
        <Text key={offset + i} wrap="truncate-end" {...TONES[line.tone]}>
          {line.text === '' ? ' ' : noColor ? withoutColours(line.text) : line.text}
        </Text>
      ))}
    </Box>
  );
}

// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/g;

function withoutColours(text: string): string {
  return text.replace(SGR, '');
}
