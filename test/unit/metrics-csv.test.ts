// Issue 14 item 11: `metrics --format csv` neutralises cells a spreadsheet would run.
import { describe, expect, it } from 'vitest';
import { escapeFormula, toCsv } from '../../cli/commands/metrics.js';

describe('CSV formula injection', () => {
  it('prefixes a single quote to cells starting with = + - @ tab or CR (OWASP)', () => {
    for (const s of ['=HYPERLINK("http://evil","x")', '+cmd|calc', '-2+3', '@SUM(A1)', '\tx', '\rx', '-inf', '=1']) {
      expect(escapeFormula(s)).toBe(`'${s}`);
    }
  });

  it('keeps numbers numbers, and other text as it is', () => {
    for (const s of ['-3', '-1.5', '+2', '-1e-05', '.5', '0', 'plain', 'a=b', '', 'x-1']) expect(escapeFormula(s)).toBe(s);
  });

  it('escapes body and header cells, then quotes as RFC 4180 does', () => {
    const csv = toCsv(['run_id', '=name'], [['r1', '=HYPERLINK("http://evil","click")'], ['r2', '-4.5']]);
    expect(csv).toBe(`run_id,'=name\r\nr1,"'=HYPERLINK(""http://evil"",""click"")"\r\nr2,-4.5\r\n`);
  });

  it('writes cells as they are with escaping off (--no-csv-escape)', () => {
    expect(toCsv(['v'], [['=1+1']], { escapeFormulas: false })).toBe('v\r\n=1+1\r\n');
  });
});
