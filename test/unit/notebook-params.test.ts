import { describe, expect, it } from 'vitest';
import {
  coerceCliValue,
  float,
  int,
  isValidParamName,
  mergeParams,
  ParamError,
  paramsSchema,
  paramsToJson,
  paramValueFromJson,
  paramValueToJson,
  rawValue,
  str,
  type ParamValue,
  type Params,
} from '../../notebook/params.js';
import { paramsFromYaml, paramsToYaml } from '../../notebook/params-yaml.js';
import { oracle } from './helpers/python.js';

type YamlResult = { error: string } | { value: ParamValue };

// The oracle tags Python values we do not model (bytes from !!binary, ...) as "other".
const modelled = (v: ParamValue): boolean =>
  (v.t as string) !== 'other' &&
  (v.t === 'list' ? v.v.every(modelled) : v.t === 'dict' ? v.v.every(([, x]) => modelled(x)) : true);

const DOCS = [
  'a: 1',
  'a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: n\ng: TRUE\nh: tRuE',
  'a: 0o17\nb: 017\nc: 0x1F\nd: 0b101\ne: 1_000\nf: 190:20:30\ng: -0x_1f\nh: +12\ni: 0\nj: -0\nk: 09\nl: 0_17\nm: 12345678901234567890123',
  'a: 1.5\nb: 1e5\nc: 1.0e5\nd: 1.0e+5\ne: .5\nf: -.inf\ng: .NaN\nh: 190:20:30.15\ni: 1_000.5\nj: 6.8523015e+5\nk: 685.230_15e+03\nl: 1.\nm: -0.0\nn: +.INF\no: 1e16\np: 10000000000000000.0',
  "a: ~\nb: null\nc:\nd: Null\ne: ''\nf: NULL\ng: nul",
  'd: 2001-12-14\nt: 2001-12-14t21:59:43.10-05:00\ns: 2001-12-14 21:59:43.10 -5',
  "a: 'yes'\nb: \"1\"\nc: !!str 1\nd: !!int '12'\ne: !!float '1'\nf: !!bool 'on'\ng: !!null ''\nh: ! 12",
  'm: {1: a, 2.5: b, true: c, null: d, 1.0: e}\nl: [1, [2, [3, {x: y}]]]',
  'a: 1\na: 2\nb: 3',
  'base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\ne: *b',
  'one: &o {a: 1, b: 1}\ntwo: &t {b: 2, c: 2}\nm:\n  <<: [*o, *t]\n  z: 0',
  'one: &o {a: 1}\nm:\n  <<: [*o, *o]\n  <<: {a: 3}\n  q: 1',
  "a: ! '12'\nb: ! yes",
  's: |\n  line1\n  line2\nf: >\n  folded\n  text\nk: |-\n  keep\n',
  'ü: ñ\n"quoted key": 1\nemoji: "\\U0001F600 \\u00e9\\x41"\ntab: "a\\tb"',
  'plain: multi\n  line\n  scalar\nq: "a \\"q\\" \\\\ b"',
  '',
  '# only a comment\n',
  '---\n',
  '[1, 2]',
  'just a string',
  '42',
  'a: [1\n',
  'a: b: c',
  'x: 1\n---\ny: 2\n',
  '1: a',
  'class: 1',
  'a: !!binary aGk=',
  'a: *nope',
  'a:\n  - b\n   - c',
  'a: &r [*r]',
  'list: [yes, no, ~, 1, 1.5, "s", 0x10]\nnested: {a: {b: {c: [1, {d: e}]}}}',
];

describe('paramsFromYaml is PyYAML with papermill NoDatesSafeLoader', () => {
  it('for a table of documents', () => {
    const expected = oracle<YamlResult>('yaml', DOCS);
    const mismatches: string[] = [];
    DOCS.forEach((doc, i) => {
      const py = expected[i]!;
      let ours: Params | Error;
      try {
        ours = paramsFromYaml(doc, '-y');
      } catch (e) {
        ours = e as Error;
      }
      // We insist on a mapping with identifier keys (papermill would write the keys
      // into code); Python's value must otherwise be the same.
      const pyOk =
        'value' in py &&
        modelled(py.value) &&
        (py.value.t === 'none' || (py.value.t === 'dict' && py.value.v.every(([k]) => isValidParamName(k))));
      if (!pyOk) {
        if (!(ours instanceof ParamError)) mismatches.push(`${JSON.stringify(doc)}: expected a ParamError, got ${JSON.stringify(ours)}`);
        return;
      }
      const want = py.value.t === 'none' ? [] : (py.value as { v: [string, ParamValue][] }).v;
      const got = ours instanceof Error ? ours.message : Object.entries(ours);
      if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${JSON.stringify(doc)}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
    });
    expect(mismatches).toEqual([]);
  });

  it('names the source and position in errors, on one line', () => {
    expect(() => paramsFromYaml('a: 1\nb: [1\n', '-f params.yaml')).toThrow(/^-f params\.yaml: invalid YAML at line \d+ col \d+: [^\n]+$/);
    expect(() => paramsFromYaml('[1, 2]', '-y')).toThrow(new ParamError('-y: must be a mapping of parameter names to values (got a list)'));
    expect(() => paramsFromYaml('1x: 2', '-f p.yaml')).toThrow(new ParamError('-f p.yaml: parameter name "1x" is not a valid Python identifier'));
  });
});

describe('mergeParams', () => {
  it('applies -b, -f, -y, -p, -r in papermill order; a name keeps its first position', () => {
    const merged = mergeParams({
      raw: [['a', '5']],
      parameters: [['a', '4'], ['p', '1.0']],
      yaml: [{ y: str('y'), a: int(3) }],
      files: [{ a: int(1), f: str('f') }, { a: int(2) }],
      base64: [{ b: str('b'), a: int(0) }],
    });
    expect(Object.keys(merged)).toEqual(['b', 'a', 'f', 'y', 'p']);
    expect(merged.a).toEqual(str('5'));
    expect(merged.p).toEqual({ t: 'float', v: '1.0' });
  });
  it('takes already typed values too', () => {
    expect(mergeParams({ parameters: [['x', int(7)]], raw: [['y', rawValue('1')]] })).toEqual({ x: int(7), y: str('1') });
  });
  it('refuses names that are not identifiers', () => {
    expect(() => mergeParams({ parameters: [['x; import os', '1']] })).toThrow(ParamError);
    expect(() => mergeParams({ raw: [['for', '1']] })).toThrow(/keyword/);
  });
  it('keeps __proto__ as an ordinary name', () => {
    const m = mergeParams({ parameters: [['__proto__', '1']] });
    expect(Object.keys(m)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
  });
});

describe('JSON forms', () => {
  it('paramValueToJson keeps metadata valid JSON', () => {
    expect(paramValueToJson(float(1.5))).toBe(1.5);
    expect(paramValueToJson(coerceCliValue('nan'))).toBe('nan');
    expect(paramValueToJson(coerceCliValue('-inf'))).toBe('-inf');
    expect(paramValueToJson(int('123456789012345678901234567890'))).toBe('123456789012345678901234567890');
    expect(paramValueToJson(int(42))).toBe(42);
    expect(paramsToJson({ d: { t: 'dict', v: [['k', { t: 'list', v: [{ t: 'none' }, { t: 'bool', v: true }] }]] } })).toEqual({ d: { k: [null, true] } });
  });
  it('paramValueFromJson types numbers by integrality', () => {
    expect(paramValueFromJson({ a: [1, 1.5, 'x', null, false] })).toEqual({
      t: 'dict',
      v: [['a', { t: 'list', v: [int(1), float(1.5), str('x'), { t: 'none' }, { t: 'bool', v: false }] }]],
    });
  });
  it('paramsSchema accepts well-formed values and refuses bad names and texts', () => {
    expect(paramsSchema.safeParse({ a: int(1), b: float(1e16), c: { t: 'dict', v: [['k', str('v')]] } }).success).toBe(true);
    expect(paramsSchema.safeParse({ '1a': int(1) }).success).toBe(false);
    expect(paramsSchema.safeParse({ a: { t: 'int', v: '01' } }).success).toBe(false);
    expect(paramsSchema.safeParse({ a: { t: 'float', v: '1' } }).success).toBe(false);
    expect(paramsSchema.safeParse({ a: { t: 'float', v: "float('nan')" } }).success).toBe(false);
    expect(paramsSchema.safeParse({ a: { t: 'float', v: 'nan' } }).success).toBe(true);
  });
});

describe('paramsToYaml', () => {
  it('writes YAML that paramsFromYaml reads back to the same typed values', () => {
    const params: Params = {
      n: int(3),
      big: int('123456789012345678901234567890'),
      ratio: float(1),
      tiny: float(1e-7),
      huge: float(1e16),
      missing: float(NaN),
      up: float(Infinity),
      down: float(-Infinity),
      name: str('yes'),
      digits: str('007'),
      quoted: str('a "b"\n\tc: d # e \u00e9 \u{1F600}'),
      empty: str(''),
      flag: { t: 'bool', v: false },
      nothing: { t: 'none' },
      items: { t: 'list', v: [int(1), str('two'), { t: 'list', v: [] }] },
      table: { t: 'dict', v: [['a key', float(2.5)], ['1', { t: 'dict', v: [] }]] },
    };
    const text = paramsToYaml(params);
    expect(text.split('\n')[0]).toBe('n: 3');
    expect(paramsFromYaml(text, 'edited')).toEqual(params);
    expect(paramsToYaml({})).toBe('');
  });
});
