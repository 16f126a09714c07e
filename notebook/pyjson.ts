// JSON text the way Python's json module reads and writes it, so the notebooks we
// write are byte-identical to nbformat's and the notebooks papermill wrote (which
// may hold NaN/Infinity in metadata) can be read back.

import { compareCodePoints } from './pystr.js';
import { pyFloatRepr } from './pynum.js';

/** Define an own property even for "__proto__", which plain assignment would not. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

// Python json.dumps(ensure_ascii=False) escapes only these.
const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

export function pyJsonString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\u0000-\u001f"\\]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/**
 * Python's json encoding of a number. JSON.parse cannot tell 1.0 from 1, so integral
 * values up to 2^53 are written as ints (Python would write an integral *float* as
 * `1.0`); beyond that a JS number is not an exact int anyway and is written as a
 * Python float (1.5e+300); other values use Python's float repr; non-finite values
 * are written as Python does (NaN, Infinity, -Infinity), which Python's json reads.
 */
export function pyJsonNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  if (Number.isSafeInteger(n)) return String(n);
  if (Object.is(n, -0)) return '0';
  return pyFloatRepr(n);
}

/**
 * json.dumps(value, sort_keys=True, indent=indent, separators=(',', ': '),
 * ensure_ascii=False). `undefined` object members are skipped (as JSON.stringify
 * does); bigint values are written as integers.
 */
export function pyJsonDumps(value: unknown, indent = 1): string {
  return pyJsonDumpsAt(value, 0, indent);
}

/** As pyJsonDumps, for a value nested `depth` levels deep in a larger document. */
export function pyJsonDumpsAt(value: unknown, depth: number, indent = 1): string {
  const parts: string[] = [];
  write(value, depth, parts, indent);
  return parts.join('');
}

function write(v: unknown, depth: number, out: string[], indent: number): void {
  if (v === null || v === undefined) {
    out.push('null');
  } else if (typeof v === 'string') {
    out.push(pyJsonString(v));
  } else if (typeof v === 'number') {
    out.push(pyJsonNumber(v));
  } else if (typeof v === 'boolean') {
    out.push(v ? 'true' : 'false');
  } else if (typeof v === 'bigint') {
    out.push(v.toString());
  } else if (Array.isArray(v)) {
    if (v.length === 0) {
      out.push('[]');
      return;
    }
    const inner = '\n' + ' '.repeat((depth + 1) * indent);
    out.push('[');
    v.forEach((item, i) => {
      out.push(i === 0 ? inner : ',' + inner);
      write(item, depth + 1, out, indent);
    });
    out.push('\n' + ' '.repeat(depth * indent) + ']');
  } else if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort(compareCodePoints);
    if (keys.length === 0) {
      out.push('{}');
      return;
    }
    const inner = '\n' + ' '.repeat((depth + 1) * indent);
    out.push('{');
    keys.forEach((k, i) => {
      out.push(i === 0 ? inner : ',' + inner);
      out.push(pyJsonString(k), ': ');
      write(obj[k], depth + 1, out, indent);
    });
    out.push('\n' + ' '.repeat(depth * indent) + '}');
  } else {
    throw new TypeError(`cannot write ${typeof v} as JSON`);
  }
}

export class JsonSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${detail} at line ${line} col ${column}`);
    this.name = 'JsonSyntaxError';
  }
}

/**
 * Parse JSON as Python's json.loads does: standard JSON plus NaN, Infinity and
 * -Infinity. The native parser handles the common case fast; the hand-written one
 * only runs when it fails, to accept Python's extensions or to say where the
 * text is broken (line and column).
 */
export function pyJsonLoads(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return new LenientParser(text).parseDocument();
  }
}

class LenientParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseDocument(): unknown {
    this.ws();
    const v = this.value();
    this.ws();
    if (this.i < this.s.length) this.fail(`unexpected ${this.describe()} after the JSON value`);
    return v;
  }

  private fail(detail: string): never {
    let line = 1;
    let col = 1;
    for (let k = 0; k < this.i && k < this.s.length; k++) {
      if (this.s.charCodeAt(k) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    throw new JsonSyntaxError(detail, line, col);
  }

  private describe(): string {
    if (this.i >= this.s.length) return 'end of text';
    const c = this.s[this.i]!;
    return /[\u0000-\u001f]/.test(c) ? `character U+${c.charCodeAt(0).toString(16).padStart(4, '0')}` : `token ${c}`;
  }

  private ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.i++;
      else break;
    }
  }

  private lit(word: string, value: unknown): unknown {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return value;
    }
    return this.fail(`unexpected ${this.describe()}`);
  }

  private value(): unknown {
    const c = this.s[this.i];
    switch (c) {
      case '{':
        return this.object();
      case '[':
        return this.array();
      case '"':
        return this.string();
      case 't':
        return this.lit('true', true);
      case 'f':
        return this.lit('false', false);
      case 'n':
        return this.lit('null', null);
      case 'N':
        return this.lit('NaN', NaN);
      case 'I':
        return this.lit('Infinity', Infinity);
      case '-':
        if (this.s.startsWith('-Infinity', this.i)) return this.lit('-Infinity', -Infinity);
        return this.number();
      default:
        if (c !== undefined && c >= '0' && c <= '9') return this.number();
        return this.fail(`unexpected ${this.describe()}`);
    }
  }

  private number(): number {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r) this.fail(`unexpected ${this.describe()}`);
    this.i += r[0].length;
    return Number(r[0]);
  }

  private string(): string {
    this.i++; // opening quote
    let out = '';
    let start = this.i;
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated string');
      const c = this.s.charCodeAt(this.i);
      if (c === 34) {
        out += this.s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail(`invalid control ${this.describe()} in string`);
      if (c === 92) {
        out += this.s.slice(start, this.i);
        const e = this.s[this.i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          this.i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.s.slice(this.i + 2, this.i + 6))) {
          out += String.fromCharCode(parseInt(this.s.slice(this.i + 2, this.i + 6), 16));
          this.i += 6;
        } else {
          this.i++;
          this.fail('invalid escape in string');
        }
        start = this.i;
        continue;
      }
      this.i++;
    }
  }

  private array(): unknown[] {
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value());
      this.ws();
      const c = this.s[this.i];
      if (c === ',') this.i++;
      else if (c === ']') {
        this.i++;
        return out;
      } else this.fail(`expected , or ] but found ${this.describe()}`);
    }
  }

  private object(): Record<string, unknown> {
    this.i++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail(`expected a "quoted" property name but found ${this.describe()}`);
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail(`expected : but found ${this.describe()}`);
      this.i++;
      this.ws();
      setOwn(out, key, this.value());
      this.ws();
      const c = this.s[this.i];
      if (c === ',') this.i++;
      else if (c === '}') {
        this.i++;
        return out;
      } else this.fail(`expected , or } but found ${this.describe()}`);
    }
  }
}
