// The directives of a SQL job file (`millrace wrap`), read from its `--` comments:
//   -- @param NAME: TYPE [= DEFAULT]   a parameter (header only); no default: required
//   -- @preview N                      rows shown per query (header: every statement)
//   -- @connection NAME                the named connection (header only)
//   -- @engine NAME                    the engine (header only; --engine overrides it)
//   -- @output PATH                    save the statement's whole result (.parquet/.csv) to the run's folder
//   -- @name NAME                      the statement's name in scrapbook values
// The header is the file's leading comments and blank lines; its comments that touch the
// first statement (no blank line between) belong to that statement, as in any SQL file.

import { savedFilePathProblem } from '../saved-files.js';

/** The types a parameter may declare: what the kernel coerces its value to before binding. */
export const SQL_PARAM_TYPES = ['str', 'int', 'float', 'bool', 'date', 'datetime'] as const;
export type SqlParamType = (typeof SQL_PARAM_TYPES)[number];

export interface SqlParam {
  name: string;
  type: SqlParamType;
  /** The default as written (quotes removed); undefined: the parameter is required. */
  default?: string;
  line: number;
}

export interface SqlHeader {
  params: SqlParam[];
  preview?: number;
  connection?: string;
  engine?: string;
  /** The header's other comment lines, without `--`: the job's description. */
  description: string[];
  /** The file with the header's lines blanked, so line numbers stay the file's. */
  body: string;
}

export interface StatementDirectives {
  preview?: number;
  output?: string;
  name?: string;
}

/** A SQL file that cannot be wrapped; the message names the line. */
export class SqlJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlJobError';
  }
}

const DIRECTIVE = /^\s*--\s*@(\w+)\b\s*(.*?)\s*$/;
const PARAM = /^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\w+)\s*(?:=\s*(.+))?$/;
const HEADER_ONLY = new Set(['param', 'connection', 'engine']);
const STATEMENT_ONLY = new Set(['output', 'name']);
const KNOWN = ['param', 'preview', 'connection', 'engine', 'output', 'name'];

function preview(value: string, line: number): number {
  if (!/^\d+$/.test(value)) throw new SqlJobError(`line ${line}: @preview takes a whole number of rows, not ${JSON.stringify(value)}`);
  return Number(value);
}

function unknown(name: string, line: number): never {
  throw new SqlJobError(`line ${line}: unknown directive @${name} (known: ${KNOWN.map((k) => `@${k}`).join(', ')})`);
}

/** A default as written: 'quoted' (SQL's '' escape) or "quoted", else the bare text. */
function defaultText(raw: string, name: string, line: number): string {
  const quoted = /^'((?:[^']|'')*)'$/.exec(raw) ?? /^"((?:[^"]|"")*)"$/.exec(raw);
  if (quoted) return quoted[1]!.replace(raw[0] === "'" ? /''/g : /""/g, raw[0]!);
  if (/^['"]/.test(raw)) throw new SqlJobError(`line ${line}: @param ${name}: unterminated quote in the default ${raw}`);
  return raw;
}

function checkDefault(p: SqlParam): void {
  const v = p.default;
  if (v === undefined) return;
  const ok =
    p.type === 'str' ||
    (p.type === 'int' && /^[-+]?\d+$/.test(v)) ||
    (p.type === 'float' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) ||
    (p.type === 'bool' && /^(true|false)$/i.test(v)) ||
    (p.type === 'date' && /^\d{4}-\d{2}-\d{2}$/.test(v)) ||
    (p.type === 'datetime' && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$/.test(v));
  if (!ok) throw new SqlJobError(`line ${p.line}: @param ${p.name}: the default ${JSON.stringify(v)} is not a ${p.type}`);
}

function parseParam(value: string, line: number): SqlParam {
  const m = PARAM.exec(value);
  if (!m) throw new SqlJobError(`line ${line}: @param wants NAME: TYPE [= DEFAULT], e.g. -- @param region: str = 'eu'`);
  const [, name, type, raw] = m;
  if (!(SQL_PARAM_TYPES as readonly string[]).includes(type!)) {
    throw new SqlJobError(`line ${line}: @param ${name}: unknown type ${type} (one of ${SQL_PARAM_TYPES.join(', ')})`);
  }
  const p: SqlParam = { name: name!, type: type as SqlParamType, line, ...(raw !== undefined ? { default: defaultText(raw, name!, line) } : {}) };
  checkDefault(p);
  return p;
}

export function parseSqlHeader(text: string): SqlHeader {
  const lines = text.split('\n');
  let end = 0; // lines before `end` are the leading comments and blank lines
  while (end < lines.length && /^\s*(--.*)?\r?$/.test(lines[end]!)) end++;
  // The comments right above the first statement are its own.
  let headerEnd = end;
  if (end < lines.length) while (headerEnd > 0 && /^\s*--/.test(lines[headerEnd - 1]!)) headerEnd--;
  const header: SqlHeader = { params: [], description: [], body: '' };
  const body = [...lines];
  for (let i = 0; i < end; i++) {
    const line = i + 1;
    const d = DIRECTIVE.exec(lines[i]!);
    const [, name, value] = d ?? [];
    // @param and @connection are the header's wherever they sit among the leading comments.
    if (i >= headerEnd && !HEADER_ONLY.has(name ?? '')) continue;
    if (!d) {
      const comment = /^\s*--\s?(.*?)\s*$/.exec(lines[i]!);
      if (comment) header.description.push(comment[1]!);
      body[i] = '';
      continue;
    }
    if (name === 'param') {
      const p = parseParam(value!, line);
      if (header.params.some((q) => q.name === p.name)) throw new SqlJobError(`line ${line}: @param ${p.name} is declared twice`);
      header.params.push(p);
    } else if (name === 'preview') header.preview = preview(value!, line);
    else if (name === 'connection') {
      if (!/^[\w.-]+$/.test(value!)) throw new SqlJobError(`line ${line}: @connection takes a connection's name, not ${JSON.stringify(value)}`);
      header.connection = value!;
    } else if (name === 'engine') {
      if (!/^[\w-]+$/.test(value!)) throw new SqlJobError(`line ${line}: @engine takes an engine's name, not ${JSON.stringify(value)}`);
      header.engine = value!;
    } else if (STATEMENT_ONLY.has(name!)) throw new SqlJobError(`line ${line}: @${name} belongs in the comments right above its statement`);
    else unknown(name!, line);
    body[i] = '';
  }
  while (header.description.length > 0 && header.description.at(-1) === '') header.description.pop();
  while (header.description.length > 0 && header.description[0] === '') header.description.shift();
  header.body = body.join('\n');
  return header;
}

/** The directives in one statement's comments; `firstLine` is the line its text starts on. */
export function statementDirectives(text: string, firstLine: number): StatementDirectives {
  const out: StatementDirectives = {};
  text.split('\n').forEach((l, i) => {
    const d = DIRECTIVE.exec(l);
    if (!d) return;
    const [, name, value] = d;
    const line = firstLine + i;
    if (name === 'preview') out.preview = preview(value!, line);
    else if (name === 'output') {
      if (!/\.(parquet|csv)$/.test(value!)) throw new SqlJobError(`line ${line}: @output names a .parquet or .csv file, not ${JSON.stringify(value)}`);
      const problem = savedFilePathProblem(value!);
      if (problem) throw new SqlJobError(`line ${line}: @output takes ${problem}, not ${JSON.stringify(value)}`);
      out.output = value!;
    } else if (name === 'name') {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(value!)) throw new SqlJobError(`line ${line}: @name takes an identifier, not ${JSON.stringify(value)}`);
      out.name = value!;
    } else if (HEADER_ONLY.has(name!)) throw new SqlJobError(`line ${line}: @${name} belongs in the file's header, before the first statement`);
    else unknown(name!, line);
  });
  return out;
}
