/**
 * The one-line inputs of the inspector (`/` search, `:` screen names, a backfill's range):
 * a key applied to the text typed so far. Pure, so each rule has a unit test.
 */
import type { Key } from 'ink';

export type LineEdit = { text: string } | { done: string } | { cancelled: true };

/** Enter accepts, Esc cancels, backspace deletes a character, ctrl-u clears; printable characters are typed. */
export function editLine(text: string, input: string, key: Key): LineEdit {
  if (key.return) return { done: text };
  if (key.escape) return { cancelled: true };
  if (key.backspace || key.delete) return { text: [...text].slice(0, -1).join('') };
  if (key.ctrl && input === 'u') return { text: '' };
  if (key.ctrl || key.meta || key.tab || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.pageUp || key.pageDown) return { text };
  // eslint-disable-next-line no-control-regex
  return { text: text + input.replace(/[\u0000-\u001f\u007f]/g, '') };
}
