import { Box, Text, type Key } from 'ink';
import { useRef, useState } from 'react';

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

/**
 * Whether a screen's `?` help is shown. Mirrored in a ref, so that the keys after `?` in
 * one input already go to the help; `keyWhileShown` takes a key while it is (esc or `?`
 * close it, any other key does nothing) and says whether it did.
 */
export function useHelp(): { shown: boolean; show(): void; keyWhileShown(input: string, key: Key): boolean } {
  const [shown, setShown] = useState(false);
  const ref = useRef(shown);
  const set = (on: boolean) => {
    ref.current = on;
    setShown(on);
  };
  return {
    shown,
    show: () => set(true),
    keyWhileShown(input, key) {
      if (!ref.current) return false;
      if (key.escape || input === '?') set(false);
      return true;
    },
  };
}
