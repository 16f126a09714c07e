// papermill's PythonTranslator (papermill/translators.py), without black: papermill
// formats the cell with black only when black is importable in *its* environment,
// and millrace has none, so the output is papermill's unformatted text.

import { ParamError, validateParamName, type ParamValue, type Params } from '../params.js';
import { codePoints, hasPyLineBreak, PY_WS_CLASS, pySplitLines, pyStrip } from '../pystr.js';

/** papermill.models.Parameter, as inspect() returns it. */
export interface ParameterInfo {
  name: string;
  /** The annotation or `# type:` comment, or "None" when unknown (papermill's spelling). */
  inferred_type_name: string;
  /** The default value's source text. */
  default: string;
  help: string;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/**
 * Python's str.encode('unicode_escape').decode() followed by papermill's `"` -> `\"`.
 * Every character outside printable ASCII becomes an escape, so the literal is always
 * one line and a value can never end the string early.
 */
export function escapeStr(s: string): string {
  let out = '';
  for (const cp of codePoints(s)) {
    if (cp === 0x5c) out += '\\\\';
    else if (cp === 0x22) out += '\\"';
    else if (cp === 0x09) out += '\\t';
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x0d) out += '\\r';
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0x100)) out += `\\x${hex(cp, 2)}`;
    else if (cp >= 0x100 && cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else if (cp >= 0x10000) out += `\\U${hex(cp, 8)}`;
    else out += String.fromCharCode(cp);
  }
  return out;
}

export function translateStr(s: string): string {
  return `"${escapeStr(s)}"`;
}

/** PythonTranslator.translate for one value. */
export function translate(v: ParamValue): string {
  switch (v.t) {
    case 'none':
      return 'None';
    case 'bool':
      return v.v ? 'True' : 'False';
    case 'int':
      return v.v;
    case 'float':
      if (v.v === 'nan') return "float('nan')";
      if (v.v === 'inf') return "float('inf')";
      if (v.v === '-inf') return "float('-inf')";
      return v.v;
    case 'str':
      return translateStr(v.v);
    case 'list':
      return `[${v.v.map(translate).join(', ')}]`;
    case 'dict':
      return `{${v.v.map(([k, x]) => `${translateStr(k)}: ${translate(x)}`).join(', ')}}`;
  }
}

/** PythonTranslator.comment: `# text`, stripped. */
export function comment(text: string): string {
  const c = pyStrip(`# ${text}`);
  // papermill would write a multi-line comment as is, turning the later lines into code.
  if (hasPyLineBreak(c)) throw new ParamError('the injected cell comment must be a single line');
  return c;
}

/**
 * The injected cell's source: a comment line, then `name = value` per parameter, in
 * the order given. Names are checked, unlike papermill, so neither names nor values
 * can add code.
 */
export function codify(params: Params, commentText = 'Parameters'): string {
  let content = `${comment(commentText)}\n`;
  for (const [name, value] of Object.entries(params)) {
    validateParamName(name);
    content += `${name} = ${translate(value)}\n`;
  }
  return content;
}

// PythonTranslator.PARAMETER_PATTERN with Python's Unicode \w, \s and `.` spelled out
// (JS \w is ASCII-only, JS \s and `.` use other character sets).
const W = '[\\p{L}\\p{N}_]';
const S = `[${PY_WS_CLASS}]`;
const NOT_S = `[^${PY_WS_CLASS}]`;
const ANY = '[^\\n]';
const PARAMETER_PATTERN = new RegExp(
  `^(?<target>${W}${W}*)${S}*(:${S}*["']?(?<annotation>${W}[\\p{L}\\p{N}_\\[\\],${PY_WS_CLASS}]*)["']?${S}*)?` +
    `=${S}*(?<value>${ANY}*?)(${S}*#${S}*(type:${S}*(?<type_comment>${NOT_S}*)${S}*)?(?<help>${ANY}*))?$`,
  'u',
);

/** Join a multi-line definition; only the last line's comment survives (it is the help). */
function flattenAccumulator(lines: string[]): string {
  let flat = '';
  lines.slice(0, -1).forEach((line) => {
    const hash = line.indexOf('#');
    flat += pyStrip(hash >= 0 ? line.slice(0, hash) : line);
  });
  if (lines.length) flat += pyStrip(lines[lines.length - 1]!);
  return flat;
}

/**
 * PythonTranslator.inspect: the parameters declared in a `parameters` cell. Lines
 * are grouped from one assignment to the next so lists/dicts may span lines; a line
 * with more than one `=` is skipped (papermill logs it); unparseable groups are
 * ignored.
 */
export function inspect(parametersCellSource: string): ParameterInfo[] {
  const groups: string[] = [];
  let acc: string[] = [];
  for (const line of pySplitLines(parametersCellSource)) {
    const stripped = pyStrip(line);
    if (stripped.length === 0 || stripped.startsWith('#')) continue;
    const nequal = line.split('=').length - 1;
    if (nequal > 0) {
      groups.push(flattenAccumulator(acc));
      acc = [];
      if (nequal > 1) continue;
    }
    acc.push(line);
  }
  groups.push(flattenAccumulator(acc));

  const params: ParameterInfo[] = [];
  for (const def of groups) {
    if (def.length === 0) continue;
    const m = PARAMETER_PATTERN.exec(def);
    if (!m?.groups) continue;
    const g = m.groups;
    params.push({
      name: pyStrip(g.target!),
      inferred_type_name: pyStrip(g.annotation || g.type_comment || 'None'),
      default: pyStrip(g.value ?? ''),
      help: pyStrip(g.help ?? ''),
    });
  }
  return params;
}

export const pythonTranslator = { name: 'python', translate, codify, comment, inspect } as const;
export type Translator = typeof pythonTranslator;
