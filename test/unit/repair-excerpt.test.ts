// The text a repair's answer carries of outputs: readable in a terminal, and bounded
// because Update results are kept in workflow history.
import { describe, expect, it } from 'vitest';
import { outputsText } from '../../activities/repair.js';
import type { Output } from '../../notebook/nbformat.js';

describe('outputsText', () => {
  it('joins streams, text/plain and tracebacks without ANSI colours, naming other mime types', () => {
    const outputs: Output[] = [
      { output_type: 'stream', name: 'stdout', text: ['a\n', 'b\n'] },
      { output_type: 'execute_result', data: { 'text/plain': '42', 'text/html': '<b>42</b>' }, metadata: {}, execution_count: 3 },
      { output_type: 'display_data', data: { 'image/png': 'iVBOR' }, metadata: {} },
      { output_type: 'error', ename: 'ValueError', evalue: 'bad', traceback: ['\x1b[0;31mValueError\x1b[0m: bad'] },
    ];
    expect(outputsText(outputs)).toBe('a\nb\n42\n[image/png]\nValueError: bad\n');
  });

  it('keeps the start and the end of long output within the bound', () => {
    const text = `${'x'.repeat(10_000)}\nValueError: the end`;
    const excerpt = outputsText([{ output_type: 'stream', name: 'stdout', text }], 1_000);
    expect(excerpt.startsWith('x'.repeat(250))).toBe(true);
    expect(excerpt.endsWith('ValueError: the end')).toBe(true);
    expect(excerpt).toContain(`[${text.length - 1_000} characters left out]`);
    expect(excerpt.length).toBeLessThan(1_100);
  });
});
