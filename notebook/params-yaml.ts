// Parameters from YAML exactly as papermill reads -f/-y: PyYAML's SafeLoader with
// the timestamp resolver removed (papermill's NoDatesSafeLoader). The yaml package
// parses with its failsafe schema (every scalar stays text) and PyYAML's YAML 1.1
// resolvers and constructors are applied here, so `yes`, `0x1F`, `1_000`, `190:20`
// and `.inf` mean what they mean to papermill.

import YAML, { isAlias, isMap, isScalar, isSeq, visit, type Alias, type Document, type Node as YamlNode } from 'yaml';
import { formatBytes } from './bytes.js';
import { bracketDepth, MAX_PARAM_DEPTH, MAX_YAML_ALIASES, MAX_YAML_BYTES, MAX_YAML_VALUES, utf8Bytes } from './limits.js';
import { setOwn } from './pyjson.js';
import { numberFromPyFloatRepr, pyFloatFromText } from './pynum.js';
import { bool, float, none, ParamError, pyStr, str, validateParamName, type ParamValue, type Params } from './param-value.js';

// PyYAML's implicit resolvers (yaml/resolver.py), tried in registration order.
const YAML_BOOL = /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/;
const YAML_FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const YAML_INT =
  /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const YAML_NULL = /^(?:~|null|Null|NULL|)$/;

const TAG = 'tag:yaml.org,2002:';

class YamlValueError extends Error {}

function yamlInt(text: string): ParamValue {
  let value = text.replace(/_/g, '');
  let sign = 1n;
  if (value[0] === '-') sign = -1n;
  if (value[0] === '-' || value[0] === '+') value = value.slice(1);
  const bad = (): never => {
    throw new YamlValueError(`invalid integer ${JSON.stringify(text)}`);
  };
  const parse = (digits: string, base: number): bigint => {
    const prefix = base === 2 ? '0b' : base === 8 ? '0o' : base === 16 ? '0x' : '';
    if (!digits || !new RegExp(`^[${'0123456789abcdef'.slice(0, base)}]+$`, 'i').test(digits)) bad();
    return BigInt(prefix + digits);
  };
  let n: bigint;
  if (value === '0') n = 0n;
  else if (value.startsWith('0b')) n = parse(value.slice(2), 2);
  else if (value.startsWith('0x')) n = parse(value.slice(2), 16);
  else if (value[0] === '0') n = parse(value.replace(/^0o/i, ''), 8);
  else if (value.includes(':')) {
    n = 0n;
    let base = 1n;
    for (const part of value.split(':').reverse()) {
      n += parse(part, 10) * base;
      base *= 60n;
    }
  } else n = parse(value, 10);
  return { t: 'int', v: (sign * n).toString() };
}

function yamlFloat(text: string): ParamValue {
  let value = text.replace(/_/g, '').toLowerCase();
  let sign = 1;
  if (value[0] === '-') sign = -1;
  if (value[0] === '-' || value[0] === '+') value = value.slice(1);
  const pf = (s: string): number => {
    const f = pyFloatFromText(s);
    if (f === null) throw new YamlValueError(`invalid float ${JSON.stringify(text)}`);
    return f;
  };
  if (value === '.inf') return float(sign * Infinity);
  if (value === '.nan') return float(NaN);
  if (value.includes(':')) {
    let n = 0;
    let base = 1;
    for (const part of value.split(':').reverse()) {
      n += pf(part) * base;
      base *= 60;
    }
    return float(sign * n);
  }
  return float(sign * pf(value));
}

function yamlBool(text: string): ParamValue {
  const b = ({ yes: true, no: false, true: true, false: false, on: true, off: false } as Record<string, boolean>)[
    text.toLowerCase()
  ];
  if (b === undefined) throw new YamlValueError(`invalid boolean ${JSON.stringify(text)}`);
  return bool(b);
}

/** PyYAML's resolution of an untagged plain scalar. */
function resolvePlain(text: string): ParamValue {
  if (YAML_BOOL.test(text)) return yamlBool(text);
  if (YAML_FLOAT.test(text)) return yamlFloat(text);
  if (YAML_INT.test(text)) return yamlInt(text);
  if (YAML_NULL.test(text)) return none();
  return str(text);
}

function scalarValue(node: YamlNode & { value: unknown; type?: string | null; tag?: string }): ParamValue {
  const raw = node.value;
  const text = raw === null || raw === undefined ? '' : String(raw);
  const tag = node.tag;
  if (!tag) return node.type === 'PLAIN' ? resolvePlain(text) : str(text);
  switch (tag) {
    case '!':
      // PyYAML resolves a non-specific "!" tag like an untagged plain scalar.
      return resolvePlain(text);
    case `${TAG}str`:
      return str(text);
    case `${TAG}int`:
      return yamlInt(text);
    case `${TAG}float`:
      return yamlFloat(text);
    case `${TAG}bool`:
      return yamlBool(text);
    case `${TAG}null`:
      return none();
    case `${TAG}timestamp`:
      // PyYAML would build a datetime here; papermill's loader keeps untagged dates
      // as text, and so do we for tagged ones.
      return str(text);
    default:
      throw new YamlValueError(`unsupported YAML tag ${tag.replace(TAG, '!!')}`);
  }
}

/** Dict-key identity as Python compares keys (1 == 1.0 == True). */
function keyIdentity(k: ParamValue): string {
  switch (k.t) {
    case 'none':
      return 'none';
    case 'bool':
      return `n:${k.v ? 1 : 0}`;
    case 'int':
      return `n:${k.v}`;
    case 'float': {
      const n = numberFromPyFloatRepr(k.v);
      return Number.isInteger(n) ? `n:${BigInt(n)}` : `f:${k.v}`;
    }
    case 'str':
      return `s:${k.v}`;
    default:
      throw new YamlValueError('found unhashable key (a list or mapping cannot be a key)');
  }
}

class YamlConverter {
  private readonly active = new Set<YamlNode>();
  /** Each alias's target, found in one pass (Alias.resolve walks the whole document per call). */
  private readonly targets = new Map<Alias, YamlNode>();
  /** Values made so far, an alias's value counted at each use: bounds what aliases expand to. */
  private values = 0;

  constructor(doc: Document) {
    // An alias names the last node before it with that anchor, in document order (as resolve does).
    const anchors = new Map<string, YamlNode>();
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) {
          const target = anchors.get(node.source);
          if (target) this.targets.set(node, target);
        } else if (node.anchor) anchors.set(node.anchor, node);
      },
    });
  }

  private deref(node: unknown): YamlNode | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = this.targets.get(node);
      if (!target) throw new YamlValueError(`unknown alias *${node.source}`);
      return target;
    }
    return node as YamlNode;
  }

  /** `depth` counts the mappings and lists around the node; the top-level mapping is 0. */
  convert(n: unknown, depth = 0): ParamValue {
    const node = this.deref(n);
    if (node === null) return none();
    if (this.active.has(node)) throw new YamlValueError('recursive alias: a value contains itself');
    if (++this.values > MAX_YAML_VALUES) {
      throw new YamlValueError(`expands to more than ${MAX_YAML_VALUES.toLocaleString('en-US')} values through aliases (the limit)`);
    }
    // The top-level mapping is not part of any value: its values may nest MAX_PARAM_DEPTH deep.
    if (depth > MAX_PARAM_DEPTH + 1) throw new YamlValueError(`nested more than ${MAX_PARAM_DEPTH} levels deep (the limit)`);
    this.active.add(node);
    try {
      if (isScalar(node)) return scalarValue(node as never);
      if (isSeq(node)) {
        if (node.tag && node.tag !== `${TAG}seq`) throw new YamlValueError(`unsupported YAML tag ${node.tag.replace(TAG, '!!')}`);
        return { t: 'list', v: node.items.map((x) => this.convert(x, depth + 1)) };
      }
      if (isMap(node)) {
        if (node.tag && node.tag !== `${TAG}map`) throw new YamlValueError(`unsupported YAML tag ${node.tag.replace(TAG, '!!')}`);
        return { t: 'dict', v: this.mapEntries(node, depth + 1) };
      }
      throw new YamlValueError('unsupported YAML node');
    } finally {
      this.active.delete(node);
    }
  }

  /**
   * PyYAML (6.0.3+) flatten_mapping: pairs merged in through `<<` come first, in
   * order, a key merged once is not merged again (so the first mapping wins), and the
   * mapping's own keys follow (so they win). PyYAML compares merged keys by the
   * identity of their text; we compare the text.
   */
  private pairs(map: YAML.YAMLMap): { key: unknown; value: unknown }[] {
    const merged: { key: unknown; value: unknown }[] = [];
    const seen = new Set<unknown>();
    const mergeFrom = (m: YAML.YAMLMap): void => {
      for (const p of this.pairs(m)) {
        const k = this.deref(p.key);
        const id = k && isScalar(k) ? `s:${String(k.value ?? '')}` : k;
        if (seen.has(id)) continue;
        seen.add(id);
        merged.push(p);
      }
    };
    const own: { key: unknown; value: unknown }[] = [];
    for (const pair of map.items) {
      const key = this.deref(pair.key);
      if (key && isScalar(key) && !key.tag && (key as { type?: string }).type === 'PLAIN' && key.value === '<<') {
        const v = this.deref(pair.value);
        if (v && isMap(v)) mergeFrom(v);
        else if (v && isSeq(v)) {
          for (const item of v.items) {
            const m = this.deref(item);
            if (!m || !isMap(m)) throw new YamlValueError('expected a mapping for merging');
            mergeFrom(m);
          }
        } else throw new YamlValueError('expected a mapping or list of mappings for merging');
      } else own.push({ key: pair.key, value: pair.value });
    }
    return [...merged, ...own];
  }

  mapEntries(map: YAML.YAMLMap, depth = 0): [string, ParamValue][] {
    const index = new Map<string, number>();
    const out: [string, ParamValue][] = [];
    for (const { key, value } of this.pairs(map)) {
      const k = this.convert(key, depth);
      const id = keyIdentity(k);
      const v = this.convert(value, depth);
      const at = index.get(id);
      if (at === undefined) {
        index.set(id, out.length);
        out.push([pyStr(k), v]);
      } else out[at] = [out[at]![0], v];
    }
    return out;
  }
}

/** The yaml package's own guard against alias bombs, with its maxAliasCount. */
function checkAliasCount(doc: Document): void {
  try {
    doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    if (e instanceof ReferenceError && /Excessive alias count/.test(e.message)) {
      throw new YamlValueError(`more than ${MAX_YAML_ALIASES} alias expansions (the limit, against YAML alias bombs)`);
    }
    // Anything else toJS finds, the conversion reports in its own words.
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Parse parameters from YAML as papermill's -f/-y do (PyYAML SafeLoader, YAML 1.1:
 * yes/no/on/off booleans, 0-prefixed octal, 0x hex, 0b binary, underscores, 60-base
 * numbers, .inf/.nan, ~/null; dates stay text as in papermill's NoDatesSafeLoader).
 * An empty document gives {}. `where` names the source in errors, e.g. "-f params.yaml".
 */
export function paramsFromYaml(text: string, where: string): Params {
  // The yaml parser recurses (and past some thousands of levels aborts the process), and
  // aliases can expand a small text exponentially ("billion laughs"): bound both first.
  const bytes = utf8Bytes(text);
  if (bytes > MAX_YAML_BYTES) {
    throw new ParamError(`${where}: ${formatBytes(bytes)} of YAML; the limit is ${formatBytes(MAX_YAML_BYTES)}: pass large data as a file the notebook reads`);
  }
  if (bracketDepth(text) > MAX_PARAM_DEPTH + 1) {
    throw new ParamError(`${where}: nested more than ${MAX_PARAM_DEPTH} levels deep (the limit)`);
  }
  const doc = YAML.parseDocument(text, {
    version: '1.1',
    schema: 'failsafe', // scalars stay text; PyYAML's resolvers are applied above
    uniqueKeys: false, // PyYAML lets a later key win
    intAsBigInt: true,
    prettyErrors: true,
  });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const loc = pos ? ` at line ${pos.line} col ${pos.col}` : '';
    throw new ParamError(`${where}: invalid YAML${loc}: ${firstLine(err.message)}`);
  }
  let top: ParamValue;
  try {
    checkAliasCount(doc);
    top = new YamlConverter(doc).convert(doc.contents);
  } catch (e) {
    if (e instanceof YamlValueError || e instanceof ParamError) throw new ParamError(`${where}: ${e.message}`);
    // Block-indented nesting is bounded only by the text's size; past the stack, say so in one line.
    if (e instanceof RangeError && /call stack/.test(e.message)) throw new ParamError(`${where}: nested too deeply to read`);
    throw e;
  }
  if (top.t === 'none') return {};
  if (top.t !== 'dict') {
    throw new ParamError(`${where}: must be a mapping of parameter names to values (got a ${top.t === 'list' ? 'list' : 'single value'})`);
  }
  const out: Params = {};
  for (const [k, v] of top.v) {
    try {
      validateParamName(k);
    } catch (e) {
      throw new ParamError(`${where}: ${(e as Error).message}`);
    }
    setOwn(out, k, v);
  }
  return out;
}

/**
 * Parameters as YAML that `paramsFromYaml` reads back to the same values (types included:
 * `1.0` stays a float, `"1"` a string), one `name: value` line each, nested values in flow
 * style. For a person to edit (the inspector's resume, cli/inspect/resume-form.ts).
 */
export function paramsToYaml(params: Params): string {
  return Object.entries(params)
    .map(([name, value]) => `${name}: ${yamlValue(value)}\n`)
    .join('');
}

function yamlValue(v: ParamValue): string {
  switch (v.t) {
    case 'none':
      return 'null';
    case 'bool':
      return v.v ? 'true' : 'false';
    case 'int':
      return v.v;
    case 'float':
      if (v.v === 'nan') return '.nan';
      if (v.v === 'inf' || v.v === '-inf') return v.v.replace('inf', '.inf');
      // YAML 1.1 floats need a dot: Python's `1e+16` is written `1.0e+16`.
      return /^[-+]?\d+e/.test(v.v) ? v.v.replace('e', '.0e') : v.v;
    case 'str':
      // JSON's escapes are a subset of YAML's double-quoted ones.
      return JSON.stringify(v.v);
    case 'list':
      return `[${v.v.map(yamlValue).join(', ')}]`;
    case 'dict':
      return `{${v.v.map(([k, x]) => `${JSON.stringify(k)}: ${yamlValue(x)}`).join(', ')}}`;
  }
}
