import { beforeAll, describe, expect, it } from 'vitest';
import { coerceCliValue, isValidParamName, validateParamName, ParamError, type ParamValue } from '../../notebook/params.js';
import { pyFloatRepr } from '../../notebook/pynum.js';
import { oracleBatch } from './helpers/python.js';

// Deterministic PRNG so a failure reproduces.
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function bitsOf(x: number): string {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x);
  return [...new Uint8Array(b.buffer)].map((v) => v.toString(16).padStart(2, '0')).join('');
}

function floatValues(): number[] {
    const rnd = mulberry32(20240501);
    const values: number[] = [
      0, -0, 1, -1, 0.1, 0.5, 1.5, 1e15, 1e16, 1e17, 123456789012345680, 9007199254740993, 1e-4, 1e-5, 1.5e-5,
      0.0001, 0.00012345, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e21, 1e22, 1e100, 1e-100,
      0.30000000000000004, 100, 1234.5, 9999999999999998, 1e16 + 2, 123.456e10, Infinity, -Infinity, NaN,
    ];
    const dv = new DataView(new ArrayBuffer(8));
    for (let i = 0; i < 1500; i++) {
      dv.setUint32(0, Math.floor(rnd() * 2 ** 32));
      dv.setUint32(4, Math.floor(rnd() * 2 ** 32));
      values.push(dv.getFloat64(0));
    }
    for (let i = 0; i < 500; i++) values.push(Number((rnd() * 10 ** Math.floor(rnd() * 40 - 20)).toPrecision(1 + Math.floor(rnd() * 17))));
    return values;
}

const VALUES = floatValues();
let py: Record<'floats' | 'resolve' | 'names', unknown[]>;
beforeAll(() => {
  py = oracleBatch({
    floats: { op: 'float_repr', cases: VALUES.map(bitsOf) },
    resolve: { op: 'resolve_type', cases: INPUTS },
    names: { op: 'identifier', cases: NAMES },
  });
});

describe('pyFloatRepr matches Python repr(float)', () => {
  it('on special values and random doubles', () => {
    const values = VALUES;
    const expected = py.floats as string[];
    const got = values.map(pyFloatRepr);
    const mismatches = got.flatMap((g, i) => (g === expected[i] ? [] : [`${bitsOf(values[i]!)}: ${g} != ${expected[i]}`]));
    expect(mismatches).toEqual([]);
  });
});

const INPUTS = [
    'True', 'False', 'None', 'true', 'false', 'none', 'TRUE', ' True',
    '1', '-1', '+1', ' 42 ', '007', '-0', '0', '00', '1_000', '1__0', '_1', '1_', '0_7', '+_1',
    '0x10', '0o7', '0b1', '1e5', '1E5', '1.0', '1.', '5.', '-.5', '.5', '1.5e-5', '1e-05', '1e16', '1e+16', '1e15',
    '123456789012345678901234567890', '-98765432109876543210', '1.7976931348623157e308', '1e309', '-1e309',
    'inf', '-inf', '+inf', 'Infinity', '-iNfInItY', 'infinit', 'nan', '-nan', '+NaN', 'nanx', 'in f',
    '١٢٣', '١٢٣.٥', '٣e٢', '\u00a012\u00a0', '\u300012', '\u200a7\u2028', '\x1c12', '12\x1f', '\x0b12\x0c', '\t12\n', '\r\n3\r\n',
    '1 2', '', '  ', 'abc', '1,000', '1.2.3', '--1', '+-1', '1e', 'e5', '.', '-', '1_000.000_1', '1e1_0', '1_e5', '1._5',
    '0.1', '0.30000000000000004', '2.5e-324', '5e-324', '1e-400', '-0.0', '0.0001', '0.00001',
    '123456789.123456789', '9007199254740993', '9007199254740993.0', '²', '𝟗𝟗', '\uff11\uff12', '߁', '1\u0660',
    '1'.repeat(4300), '1'.repeat(4301), '0'.repeat(4300) + '1', `${'1_'.repeat(2200)}${'1'.repeat(2000)}`, '-' + '9'.repeat(4300),
    '"; import os #', "x = 1\nimport os",
];

describe('coerceCliValue is papermill cli _resolve_type', () => {
  const inputs = INPUTS;
  it('for a table of inputs', () => {
    const expected = py.resolve as ParamValue[];
    const got = inputs.map(coerceCliValue);
    const mismatches = got.flatMap((g, i) =>
      JSON.stringify(g) === JSON.stringify(expected[i]) ? [] : [`${JSON.stringify(inputs[i]).slice(0, 40)}: ${JSON.stringify(g).slice(0, 80)} != ${JSON.stringify(expected[i]).slice(0, 80)}`],
    );
    expect(mismatches).toEqual([]);
  });
});

const NAMES = [
    'x', '_', '_x1', 'x1', '1x', 'a-b', 'a b', '', 'class', 'None', 'True', 'match', 'case', 'type', '_case',
    'ñame', 'π', 'Ω2', 'x²', '２x', 'x٣', 'a\u0301', '\u0301a', 'ℕ', 'x·y', '𝔘nicode', 'a\u200db', 'a;b', 'print()', '__proto__',
    'x\n', 'é', 'ǅ', '〇', 'ab\u00b7',
];

describe('parameter names', () => {
  const names = NAMES;
  it('accept exactly Python identifiers that are not keywords', () => {
    const expected = py.names as boolean[];
    expect(names.map(isValidParamName)).toEqual(expected);
  });
  it('say why a name is refused', () => {
    expect(() => validateParamName('1x')).toThrow(new ParamError('parameter name "1x" is not a valid Python identifier'));
    expect(() => validateParamName('class')).toThrow(/is a Python keyword/);
    expect(() => validateParamName('ok_name')).not.toThrow();
  });
});
