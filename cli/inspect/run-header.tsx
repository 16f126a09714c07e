import { Box, Text } from 'ink';
import type { HeaderField } from './view-model.js';

const LABEL_WIDTH = 13;

/** The run's labelled facts, one line each. */
export function RunHeader({ fields }: { fields: readonly HeaderField[] }) {
  return (
    <Box flexDirection="column">
      {fields.map((f) => (
        <Text key={f.label} wrap="truncate-end">
          <Text dimColor>{`${f.label}:`.padEnd(LABEL_WIDTH)}</Text>
          <Text color={f.color} bold={f.label === 'run'}>{f.value}</Text>
        </Text>
      ))}
    </Box>
  );
}
