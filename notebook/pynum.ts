// Python number text semantics: int(str), float(str) and repr(float).
// Parameter values must look in the injected cell exactly as papermill writes them,
// and papermill writes str(value) of a Python int/float.

import { codePoints, decimalValue, isPySpace } from './pystr.js';

/** CPython's default sys.get_int_max_str_digits(): int() refuses longer strings. */
const INT_MAX_STR_DIGITS = 4300;

/**
 * Normalise like CPython's _PyUnicode_TransformDecimalAndSpaceToASCII followed by
 * strip: Unicode decimal digits become ASCII, surrounding Python whitespace goes.
 * Returns null when a non-ASCII character that is neither is present (always invalid).
 */
function toAsciiNumberText(text: string): string | null {
  const out: string[] = [];
  for (const cp of codePoints(text)) {
    const ch = String.fromCodePoint(cp);
    if (cp < 0x80) out.push(ch);
    else if (isPySpace(ch)) out.push(' ');
    else {
      const d = decimalValue(cp);
      if (d < 0) return null;
      out.push(String(d));
    }
  }
  return out.join('').replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');
}

// Python digit groups (PEP 515): an underscore only between two digits.
const DIGITPART = '[0-9](?:_?[0-9])*';
const INT_RE = new RegExp(`^[+-]?${DIGITPART}$`);
const FLOAT_RE = new RegExp(
  `^[+-]?(?:${DIGITPART}(?:\\.(?:${DIGITPART})?)?|\\.${DIGITPART})(?:[eE][+-]?${DIGITPART})?$`,
);
const FLOAT_SPECIAL_RE = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * Python `int(text)` (base 10): canonical decimal string, or null where Python raises
 * ValueError.
 */
export function pyIntFromText(text: string): string | null {
  const s = toAsciiNumberText(text);
  if (s === null || !INT_RE.test(s)) return null;
  const clean = s.replace(/_/g, '');
  const digits = clean.replace(/^[+-]/, '');
  if (digits.length > INT_MAX_STR_DIGITS) return null;
  return BigInt(clean).toString();
}

/** Python `float(text)` as a JS number, or null where Python raises ValueError. */
export function pyFloatFromText(text: string): number | null {
  const s = toAsciiNumberText(text);
  if (s === null) return null;
  const special = FLOAT_SPECIAL_RE.exec(s);
  if (special) {
    if (special[2]!.toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!FLOAT_RE.test(s)) return null;
  // The grammar is now a subset of JS StrDecimalLiteral; Number() rounds correctly.
  return Number(s.replace(/_/g, ''));
}

/**
 * Python `repr(float)`: shortest round-trip digits; exponent form when the decimal
 * exponent is < -4 or >= 16 ('1e-05', '1e+16', '1.5e+300'); '.0' on integral values;
 * 'inf', '-inf', 'nan'.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() with no argument yields the shortest digits that round-trip
  // (ECMA-262 Number::toString rules), the same digits as Python's repr.
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(x).toExponential());
  if (!m) throw new Error(`unexpected number format ${x}`);
  const digits = m[1]! + (m[2] ?? '');
  const exp = Number(m[3]);
  const decpt = exp + 1; // position of the decimal point relative to the digits
  if (decpt <= -4 || decpt > 16) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** Parse a Python float repr (as produced by pyFloatRepr) back to a JS number. */
export function numberFromPyFloatRepr(repr: string): number {
  if (repr === 'nan') return NaN;
  if (repr === 'inf') return Infinity;
  if (repr === '-inf') return -Infinity;
  return Number(repr);
}
