import { Text } from 'ink';
import { fit, statusColor } from './view-model.js';

/** A run's or a cell's status in its colour, padded to its column. */
export function Status({ value, width }: { value: string; width: number }) {
  return <Text color={statusColor(value)}>{fit(value, width)}</Text>;
}
