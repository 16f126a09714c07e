import { beforeAll, describe, expect, it } from 'vitest';
import { coerceCliValue, float, int, ParamError, str, type ParamValue, type Params } from '../../notebook/params.js';
import { codify, inspect, translate } from '../../notebook/translators/python.js';
import { translatorFor } from '../../notebook/translators/index.js';
import { oracleBatch } from './helpers/python.js';

const list = (...v: ParamValue[]): ParamValue => ({ t: 'list', v });
const dict = (...v: [string, ParamValue][]): ParamValue => ({ t: 'dict', v });

const NASTY_STRINGS = [
  '',
  'plain',
  'say "hi"',
  "it's",
  '\'"\'"""',
  'back\\slash',
  'trailing backslash \\',
  '\\"',
  'line1\nline2',
  'cr\rlf\r\n',
  'tab\there',
  '\x00\x01\x07\x1b\x7f\x80\x9f\xa0\xff',
  'ünïcödé ñ',
  '日本語',
  '😀 astral 𝔘 \u{10ffff}',
  'lone \ud800 surrogate \udfff',
  '\u2028\u2029\u0085\x0b\x0c\x1c',
  '"; import os; os.system(\'touch /tmp/pwned\') #',
  '"""; import os; os.system("touch /tmp/pwned"); """',
  "'; import os #",
  '\\"; import os #',
  '\\\n"; import os',
  '{__import__("os").system("id")}',
  '\\N{LATIN SMALL LETTER A}',
  '\\u0041\\x41\\101',
];

const TABLE: [string, Params][] = [
  ['scalars', { a: { t: 'none' }, b: { t: 'bool', v: true }, c: { t: 'bool', v: false }, d: int(0), e: int(-7) }],
  ['big ints', { big: int('123456789012345678901234567890'), neg: int('-98765432109876543210987654321') }],
  [
    'floats',
    {
      f1: float(1), f2: float(-0), f3: float(1e16), f4: float(1e-5), f5: float(0.1), f6: float(Infinity),
      f7: float(-Infinity), f8: float(NaN), f9: float(1.7976931348623157e308), f10: float(5e-324), f11: float(123456.789),
      f12: coerceCliValue('1e15'), f13: coerceCliValue('0.0001'),
    },
  ],
  ['strings', Object.fromEntries(NASTY_STRINGS.map((s, i) => [`s${i}`, str(s)]))],
  [
    'nested',
    {
      l: list(int(1), str('two'), list(), dict(), list(float(NaN), { t: 'none' })),
      d: dict(['k', str('v')], ['quote"key', int(1)], ['nl\nkey', list(str('x'))], ['ü', dict(['deep', dict(['deeper', float(2.5)])])]),
      e: list(),
      m: dict(),
    },
  ],
  ['unicode names', { ñame: str('x'), π: float(3.14), _private: { t: 'bool', v: false } }],
  ['empty', {}],
];

const COMMENTS = ['', 'Parameters', '  spaced  ', 'ünï'];
let py: Record<'codify' | 'comments' | 'exec' | 'inspect', unknown[]>;
beforeAll(() => {
  py = oracleBatch({
    codify: { op: 'codify', cases: TABLE.map(([, params]) => ({ params: Object.entries(params) })) },
    comments: { op: 'codify', cases: COMMENTS.map((comment) => ({ params: [['x', int(1)]], comment })) },
    exec: { op: 'exec', cases: TABLE.map(([, params]) => ({ code: codify(params) })) },
    inspect: { op: 'inspect', cases: INSPECT_SOURCES },
  });
});

describe('PythonTranslator.codify matches papermill', () => {
  it('for a wide table of values', () => {
    const expected = py.codify as string[];
    TABLE.forEach(([name, params], i) => {
      expect(codify(params), name).toBe(expected[i]);
    });
  });

  it('with custom comments', () => {
    const comments = COMMENTS;
    const expected = py.comments as string[];
    comments.forEach((c, i) => expect(codify({ x: int(1) }, c)).toBe(expected[i]));
    expect(() => codify({ x: int(1) }, 'a\nimport os')).toThrow(ParamError);
  });

  it('never lets a value out of its literal: Python reads back exactly the value', () => {
    const results = py.exec as Record<string, ParamValue>[];
    TABLE.forEach(([name, params], i) => {
      // Only the parameters themselves may be defined: no imports, no other names.
      expect(Object.keys(results[i]!).sort(), name).toEqual(Object.keys(params).sort());
      for (const [k, v] of Object.entries(params)) {
        // A NaN reads back as nan; everything else must be identical.
        expect(results[i]![k], `${name}.${k}`).toEqual(v);
      }
    });
  });

  it('refuses names that are not identifiers (papermill would write them as code)', () => {
    expect(() => codify({ 'x = 1; import os; y': int(1) })).toThrow(ParamError);
    expect(translate(str('a"b'))).toBe('"a\\"b"');
  });
});

const INSPECT_SOURCES = [
  'a = 2',
  'a: int = 2',
  'a = 2 # type:int',
  'a = False # Nice variable a',
  'a: float = 2.258 # type: int Nice variable a',
  "a = 'this is a string' # type: int Nice variable a",
  "a: List[str] = ['this', 'is', 'a', 'string', 'list'] # Nice variable a",
  "a: List[str] = [\n    'this', # First\n    'is',\n    'a',\n    'string',\n    'list' # Last\n] # Nice variable a",
  "a: List[str] = [\n                'this', # First\n                'is',\n\n                'a',\n                'string',\n                'list' # Last\n            ] # Nice variable a\n\n            b: float = -2.3432 # My b variable\n            ",
  '',
  '# just a comment\n\n',
  'x = 1\ny == 2\nz = 3',
  'x = y = 1\nz = 2',
  'd = {\n  "a": 1,  # one\n  "b": 2,\n}  # a dict',
  "s: 'str' = 'x'",
  'n: "Optional[int]" = None  # maybe',
  'π = 3.14  # ratio',
  'v = "a # not a comment"  # real help',
  'u: Dict[str, int] = {}',
  'w =',
  '  indented = 1',
  'x = 1\r\ny = 2\rz = 3\u2028q = 4',
  'print("hi")\nx = 1',
  'import os\nx = os.getcwd()',
  'a = 1 #type:   list   more help',
  'a = 1 #',
  'a: = 1',
  'foo-bar = 1',
  'x = [1,\n 2]\n# comment between\ny = 3',
  'x = (1 +\n  2)  # sum',
];

describe('PythonTranslator.inspect matches papermill', () => {
  it('on many parameter cells', () => {
    const expected = py.inspect as unknown[];
    INSPECT_SOURCES.forEach((src, i) => expect(inspect(src), JSON.stringify(src)).toEqual(expected[i]));
  });
});

describe('translatorFor', () => {
  it('finds the Python translator as papermill does (kernel name first, then language)', () => {
    expect(translatorFor('python').name).toBe('python');
    expect(translatorFor('scala', 'pysparkkernel').name).toBe('python');
    expect(translatorFor('python', 'python3').name).toBe('python');
  });
  it('refuses other languages with one line', () => {
    expect(() => translatorFor('R')).toThrow(new ParamError('no parameter translator for language "R": only Python kernels are supported'));
    expect(() => translatorFor('python', 'sparkkernel')).toThrow(ParamError);
    expect(() => translatorFor('toString')).toThrow(ParamError);
  });
});
