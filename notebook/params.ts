// Parameter values as papermill's CLI produces them: -p typing, -r, merging in
// cli.py order, the JSON written to metadata, and the zod schemas for workflow input.
// YAML (-f/-y) is in params-yaml.ts; everything is re-exported here.

import { setOwn } from './pyjson.js';
import { numberFromPyFloatRepr, pyFloatFromText, pyIntFromText } from './pynum.js';
import { bool, float, int, isValidParamName, none, ParamError, str, validateParamName, type ParamValue, type Params } from './param-value.js';

export * from './param-value.js';
export * from './param-schema.js';
export { paramsFromYaml, paramsToYaml } from './params-yaml.js';

/**
 * papermill's CLI `_resolve_type` for `-p NAME VALUE`: "True"/"False"/"None", then
 * whatever Python int() accepts, then whatever float() accepts, else the text.
 */
export function coerceCliValue(text: string): ParamValue {
  if (text === 'True') return bool(true);
  if (text === 'False') return bool(false);
  if (text === 'None') return none();
  const i = pyIntFromText(text);
  if (i !== null) return { t: 'int', v: i };
  const f = pyFloatFromText(text);
  if (f !== null) return float(f);
  return str(text);
}

/** `-r NAME VALUE`: always the text. */
export function rawValue(text: string): ParamValue {
  return str(text);
}

/**
 * A value from JSON (e.g. an API request). Integral numbers become ints, others
 * floats; objects become dicts in key order.
 */
export function paramValueFromJson(v: unknown): ParamValue {
  if (v === null || v === undefined) return none();
  if (typeof v === 'boolean') return bool(v);
  if (typeof v === 'bigint') return int(v);
  if (typeof v === 'number') return Number.isInteger(v) ? int(v) : float(v);
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) return { t: 'list', v: v.map(paramValueFromJson) };
  if (typeof v === 'object') {
    return { t: 'dict', v: Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, paramValueFromJson(x)]) };
  }
  throw new ParamError(`cannot use a ${typeof v} as a parameter value`);
}

// ---- JSON for metadata ----

/**
 * JSON for `metadata.papermill.parameters`. papermill writes Python's json, which
 * has NaN/Infinity (not JSON) and exact big ints. We keep the metadata valid JSON
 * everywhere (browsers, Temporal payloads): non-finite floats become the strings
 * "nan", "inf", "-inf"; ints outside ±(2^53-1) become decimal strings; other
 * numbers are JS numbers (so 1.0 is written 1).
 */
export function paramValueToJson(v: ParamValue): unknown {
  switch (v.t) {
    case 'none':
      return null;
    case 'bool':
    case 'str':
      return v.v;
    case 'int': {
      const n = Number(v.v);
      return Number.isSafeInteger(n) ? n : v.v;
    }
    case 'float': {
      const n = numberFromPyFloatRepr(v.v);
      return Number.isFinite(n) ? n : v.v;
    }
    case 'list':
      return v.v.map(paramValueToJson);
    case 'dict': {
      const o: Record<string, unknown> = {};
      for (const [k, x] of v.v) setOwn(o, k, paramValueToJson(x));
      return o;
    }
  }
}

export function paramsToJson(params: Params): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) setOwn(o, k, paramValueToJson(v));
  return o;
}

// ---- merging (papermill cli.py order) ----

type NamedValue = readonly [string, string | ParamValue];

export interface ParamSources {
  /** -b: base64 YAML, already decoded and parsed. */
  base64?: readonly Params[];
  /** -f: YAML files, already parsed with paramsFromYaml. */
  files?: readonly Params[];
  /** -y: YAML strings, already parsed with paramsFromYaml. */
  yaml?: readonly Params[];
  /** -p NAME VALUE: text is typed by coerceCliValue; a ParamValue is taken as is. */
  parameters?: readonly NamedValue[];
  /** -r NAME VALUE: text is kept as a string; a ParamValue is taken as is. */
  raw?: readonly NamedValue[];
}

/**
 * papermill's CLI applies, in order: -b, -f, -y, -p, -r; a later source overrides
 * an earlier one (dict.update: the name keeps its first position). Names are
 * checked here because papermill writes them into code unchecked.
 */
export function mergeParams(src: ParamSources): Params {
  const out: Params = {};
  const put = (name: string, value: ParamValue): void => {
    validateParamName(name);
    setOwn(out, name, value);
  };
  for (const group of [src.base64, src.files, src.yaml]) {
    for (const p of group ?? []) for (const [k, v] of Object.entries(p)) put(k, v);
  }
  for (const [k, v] of src.parameters ?? []) put(k, typeof v === 'string' ? coerceCliValue(v) : v);
  for (const [k, v] of src.raw ?? []) put(k, typeof v === 'string' ? rawValue(v) : v);
  return out;
}
