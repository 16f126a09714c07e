import { Box, Text } from 'ink';

/** One line of a screen's help: the keys, and what they do there. */
export interface KeyHelp {
  keys: string;
  does: string;
}

/** Keys every screen answers to the same way. */
export const COMMON_KEYS: readonly KeyHelp[] = [
  { keys: '?', does: 'this help (? or esc closes it)' },
  { keys: 'r', does: 'refresh now' },
  { keys: 'q  ctrl-c', does: 'quit' },
];

/** `?`: the keys of the screen it was opened on, in place of the screen. */
export function HelpOverlay({ screen, keys, height }: { screen: string; keys: readonly KeyHelp[]; height: number }) {
  const all = [...keys, ...COMMON_KEYS];
  const width = Math.max(...all.map((k) => k.keys.length));
  return (
    <Box flexDirection="column" height={Math.max(3, height)} overflow="hidden">
      <Text bold>{`keys · ${screen}`}</Text>
      {all.map((k) => (
        <Text key={k.keys} wrap="truncate-end">
          {'  '}
          <Text bold>{k.keys.padEnd(width)}</Text>
          {`  ${k.does}`}
        </Text>
      ))}
      <Text dimColor>esc or ? closes this help</Text>
    </Box>
  );
}
