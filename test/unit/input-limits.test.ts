// Issue 14 items 8 and 9: input that is accepted must be input a run can carry, and
// reading it must be bounded (YAML alias bombs, deep nesting, huge values).
import { describe, expect, it } from 'vitest';
import { checkParamsLimits, MAX_PARAM_DEPTH, MAX_PARAMS_BYTES } from '../../notebook/limits.js';
import { NotebookError, parseNotebook, serializeNotebook } from '../../notebook/nbformat.js';
import { ParamError, str, type ParamValue } from '../../notebook/params.js';
import { paramsFromYaml } from '../../notebook/params-yaml.js';
import { oracle } from './helpers/python.js';
import { applyEntries, journalEntry } from '../../record/run-record.js';

/** The classic "billion laughs": nine levels of nine aliases, 9^9 strings once expanded. */
function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) {
    const p = `*a${i - 1}`;
    lines.push(`a${i}: &a${i} [${Array(9).fill(p).join(',')}]`);
  }
  return lines.join('\n') + '\n';
}

function nested(depth: number): ParamValue {
  let v: ParamValue = str('x');
  for (let i = 0; i < depth; i++) v = { t: 'list', v: [v] };
  return v;
}

describe('YAML parameters are read within limits', () => {
  it('refuses an alias bomb in one line, promptly, with the limit', () => {
    expect(() => paramsFromYaml(aliasBomb(), '-y')).toThrow(ParamError);
    expect(() => paramsFromYaml(aliasBomb(), '-f bomb.yaml')).toThrow(
      /^-f bomb\.yaml: more than 1000 alias expansions \(the limit, against YAML alias bombs\)$/,
    );
  });

  it('refuses an alias that expands one large value many times', () => {
    const big = `big: &big [${Array(5000).fill('1').join(',')}]\n`;
    const uses = Array.from({ length: 300 }, (_, i) => `u${i}: *big`).join('\n');
    expect(() => paramsFromYaml(big + uses, '-y')).toThrow(/^-y: (expands to more than 100,000 values|more than 1000 alias)/);
  });

  it('still reads ordinary anchors and merges', () => {
    const text = 'base: &b {x: 1, y: 2}\nother: {<<: *b, y: 3}\nlist: [*b, *b]\n';
    const p = paramsFromYaml(text, '-y');
    expect(p.other).toEqual({ t: 'dict', v: [['x', { t: 'int', v: '1' }], ['y', { t: 'int', v: '3' }]] });
    expect(p.list?.t === 'list' && p.list.v.length).toBe(2);
  });

  it('refuses flow nesting past the limit before the parser sees it (100,000 levels)', () => {
    const text = 'a: ' + '['.repeat(100_000) + ']'.repeat(100_000);
    expect(() => paramsFromYaml(text, '-y')).toThrow(/^-y: nested more than 100 levels deep \(the limit\)$/);
  });

  it('refuses block nesting past the limit', () => {
    let text = '';
    for (let i = 0; i < 150; i++) text += ' '.repeat(i) + 'k:\n';
    expect(() => paramsFromYaml(text, '-y')).toThrow(/^-y: nested more than 100 levels deep \(the limit\)$/);
  });

  it('takes values nested exactly at the limit', () => {
    const text = 'a: ' + '['.repeat(MAX_PARAM_DEPTH) + ']'.repeat(MAX_PARAM_DEPTH);
    expect(paramsFromYaml(text, '-y').a?.t).toBe('list');
    const flow = '{a: ' + '['.repeat(MAX_PARAM_DEPTH) + ']'.repeat(MAX_PARAM_DEPTH) + '}';
    expect(paramsFromYaml(flow, '-y').a?.t).toBe('list');
  });

  it('refuses YAML text over the size limit', () => {
    const text = 'a: "' + 'x'.repeat(1024 * 1024) + '"';
    expect(() => paramsFromYaml(text, '-f big.yaml')).toThrow(/^-f big\.yaml: 1\.0 MB of YAML; the limit is 1 MB: pass large data as a file the notebook reads$/);
  });
});

describe('checkParamsLimits', () => {
  it('refuses parameters larger than the payload share, naming the largest', () => {
    const params = { small: str('x'), blob: str('y'.repeat(3 * 1024 * 1024)) };
    expect(() => checkParamsLimits(params)).toThrow(
      /^parameters are 3\.0 MB \(the largest, blob, is 3\.0 MB\); the limit is 1 MB, half of Temporal's 2 MB payload limit: pass large data as a file the notebook reads/,
    );
  });

  it('takes parameters just under the limit', () => {
    expect(() => checkParamsLimits({ blob: str('y'.repeat(MAX_PARAMS_BYTES - 100)) })).not.toThrow();
  });

  it('refuses a value nested past the depth limit, and takes one at it', () => {
    expect(() => checkParamsLimits({ deep: nested(MAX_PARAM_DEPTH + 1) })).toThrow(/^parameter deep: nested more than 100 levels deep \(the limit\)$/);
    expect(() => checkParamsLimits({ deep: nested(MAX_PARAM_DEPTH) })).not.toThrow();
    expect(() => checkParamsLimits({ deep: nested(100_000) })).toThrow(ParamError);
  });
});

describe('notebooks of any valid layout are read and written (issue 14 item 8)', () => {
  const layout = (extra: Record<string, unknown>): string =>
    JSON.stringify({
      ...extra,
      cells: [{ cell_type: 'code', id: 'c1', metadata: {}, execution_count: null, outputs: [], source: 'x = 1\n' }],
      metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
      nbformat: 4,
      nbformat_minor: 5,
    });

  it('writes top-level keys that sort before "cells" as nbformat does', () => {
    // Written as text: an object literal's __proto__ would set the prototype, not a key.
    const text = layout({ Authors: ['ada'], _z: 1, zz: { a: [1] } }).replace('{', '{"__proto__": {"polluted": true}, ');
    expect(text).toContain('"__proto__"');
    const nb = parseNotebook(text, 'extra.ipynb');
    const ours = serializeNotebook(nb);
    const [expected] = oracle<string>('writes', [{ text }]);
    expect(ours).toBe(expected + '\n');
    // "__proto__" is data: an own key that round-trips, and no prototype changed.
    expect(Object.prototype.hasOwnProperty.call(nb, '__proto__')).toBe(true);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect((nb as unknown as { polluted?: unknown }).polluted).toBeUndefined();
    expect(serializeNotebook(parseNotebook(ours, 'again.ipynb'))).toBe(ours);
  });

  it('refuses a notebook nested 100,000 levels deep in one line', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = layout({}).replace('"metadata":{', `"metadata":{"deep":${deep},`);
    expect(() => parseNotebook(text, 'deep.ipynb')).toThrow(NotebookError);
    expect(() => parseNotebook(text, 'deep.ipynb')).toThrow(/^deep\.ipynb: nested more than 512 levels deep \(the limit\): is it a notebook\?$/);
  });

  it('counts brackets inside strings as text, not nesting', () => {
    const text = layout({}).replace('x = 1\\n', '['.repeat(150_000) + 'a](');
    expect(parseNotebook(text, 'brackets.ipynb').cells).toHaveLength(1);
  });
});

describe('the record journal keeps "__proto__" as data', () => {
  it('journals and applies a changed metadata key named __proto__', () => {
    const base = parseNotebook(JSON.stringify({ cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 }), 'a.ipynb');
    const next = parseNotebook('{"cells": [], "metadata": {"__proto__": {"polluted": true}}, "nbformat": 4, "nbformat_minor": 5}', 'b.ipynb');
    const entry = journalEntry(base, next, false)!;
    expect(Object.prototype.hasOwnProperty.call(entry.metadata, '__proto__')).toBe(true);
    const merged = applyEntries({ cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 }, [entry], 'r');
    expect(Object.prototype.hasOwnProperty.call(merged['metadata'], '__proto__')).toBe(true);
    expect((merged['metadata'] as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
