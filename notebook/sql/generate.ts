// The notebook `millrace wrap` generates from a SQL job: a description, the parameters
// cell (papermill's, so -p, schedules' run_date and `millrace params` apply), a setup cell
// holding the runtime and the connection's name, then one `%%millrace_sql` cell per
// statement. Pure and deterministic: the same file and options give the same bytes.

import { z } from 'zod';
import { pythonNotebook, type Cell, type Notebook } from '../nbformat.js';
import { translateStr } from '../translators/python.js';
import type { SqlEngine } from './engines.js';
import { SqlJobError, statementDirectives, type SqlHeader, type SqlParam } from './header.js';

/** One statement as the splitter (jobs/sql_split.py) returns it. */
export interface SplitStatement {
  text: string;
  /** sqlparse's statement type: SELECT, INSERT, CREATE, ..., UNKNOWN. */
  type: string;
  /** 1-based line of the file its text starts on. */
  start: number;
  /** 1-based line of its first token that is not a comment: where errors point. */
  line: number;
  placeholders: Array<{ offset: number; name: string }>;
}

export interface SqlJobSpec {
  /** The file's name, shown in the notebook and in error messages. */
  fileName: string;
  /** Where the file was read from, and its content's sha256, for metadata.millrace.job. */
  path: string;
  sha256: string;
  header: SqlHeader;
  statements: SplitStatement[];
  engine: SqlEngine;
  /** --connection, else the header's @connection; none: the engine's default. */
  connection?: string;
  /** Python: the engine module, then the common runtime (jobs/runtime/). */
  runtime: string;
}

export const DEFAULT_PREVIEW_ROWS = 10;

/** A parameter's default as a Python literal; dates stay text, as -p and schedules pass them. */
function pyDefault(p: SqlParam): string {
  if (p.default === undefined) return 'None';
  switch (p.type) {
    case 'int':
    case 'float':
      return p.default;
    case 'bool':
      return p.default.toLowerCase() === 'true' ? 'True' : 'False';
    default:
      return translateStr(p.default);
  }
}

function parametersSource(params: SqlParam[]): string {
  if (params.length === 0) return '# This job declares no parameters (-- @param NAME: TYPE [= DEFAULT]).';
  // papermill reads `# type: T` comments as the parameter's type (`millrace params`).
  return params.map((p) => `${p.name} = ${pyDefault(p)}  # type: ${p.type}${p.default === undefined ? ' (required)' : ''}`).join('\n');
}

/** What SQLAlchemy's text() reads as a bind parameter (sqlalchemy.sql.elements.TextClause). */
const TEXT_BIND = /(?<![:\w\\]):(?=\w)(?!\w:)/g;

/** The statement with each `:name` replaced by the engine's placeholder. */
function bindable(s: SplitStatement, engine: SqlEngine, declared: Set<string>): string {
  const text = (from: number, to: number) => (engine.escapeColons ? s.text.slice(from, to).replace(TEXT_BIND, '\\:') : s.text.slice(from, to));
  let out = '';
  let at = 0;
  for (const p of s.placeholders) {
    if (!declared.has(p.name)) {
      const line = s.start + s.text.slice(0, p.offset).split('\n').length - 1;
      throw new SqlJobError(`line ${line}: :${p.name} is not a declared parameter (add -- @param ${p.name}: TYPE to the header)`);
    }
    out += text(at, p.offset) + engine.placeholder(p.name);
    at = p.offset + 1 + p.name.length;
  }
  return out + text(at, s.text.length);
}

/** A magic argument: kept bare when shlex reads it back unchanged, else single-quoted. */
function arg(key: string, value: string): string {
  return /^[\w.,/-]+$/.test(value) ? `${key}=${value}` : `'${key}=${value.replace(/'/g, `'"'"'`)}'`;
}

/** Fixed ids, so that wrapping the same file again gives the same notebook. */
function cellId(kind: string, n: number): string {
  return `${kind}-${n}`;
}

export function generateSqlNotebook(spec: SqlJobSpec): Notebook {
  const { header, engine } = spec;
  const declared = new Set(header.params.map((p) => p.name));
  const connection = spec.connection ?? header.connection;
  const names = new Set<string>();
  const statementCells: Cell[] = spec.statements.map((s, i) => {
    const d = statementDirectives(s.text, s.start);
    const name = d.name ?? `s${i + 1}`;
    if (names.has(name)) throw new SqlJobError(`line ${s.line}: @name ${name} is used by another statement`);
    names.add(name);
    const occurrences = s.placeholders.map((p) => p.name);
    const used = engine.positional ? occurrences : [...new Set(occurrences)];
    const args = [
      arg('line', String(s.line)),
      arg('name', name),
      ...(s.type !== 'SELECT' ? [arg('kind', s.type)] : []),
      ...(used.length ? [arg('params', used.join(','))] : []),
      ...(d.preview !== undefined ? [arg('preview', String(d.preview))] : []),
      ...(d.output !== undefined ? [arg('output', d.output)] : []),
    ];
    return {
      cell_type: 'code',
      id: cellId('statement', i + 1),
      metadata: { millrace: { sql_line: s.line } },
      source: `%%millrace_sql ${args.join(' ')}\n${bindable(s, engine, declared)}`,
      outputs: [],
      execution_count: null,
    };
  });
  if (statementCells.length === 0) throw new SqlJobError(`${spec.fileName} has no SQL statement`);
  const about = [
    `# ${spec.fileName}`,
    ...(header.description.length ? ['', ...header.description] : []),
    '',
    `Generated by \`millrace wrap\` from \`${spec.fileName}\` (sha256 \`${spec.sha256.slice(0, 12)}\`): engine ${engine.name}, ` +
      (connection ? `connection \`${connection}\`.` : `the engine's default connection (\`${engine.defaultUrl}\`).`),
  ];
  const paramsDict = header.params.map((p) => `${translateStr(p.name)}: (${translateStr(p.type)}, ${p.name})`).join(', ');
  const setup = [
    spec.runtime.trimEnd(),
    '',
    `_millrace_sql = _MillraceSql(_MillraceEngine, ${translateStr(spec.fileName)}, _millrace_connection_url(${connection ? translateStr(connection) : 'None'}, ${translateStr(engine.defaultUrl)}), {${paramsDict}}, ${header.preview ?? DEFAULT_PREVIEW_ROWS})`,
    `get_ipython().register_magic_function(_millrace_sql.cell, "cell", "millrace_sql")`,
  ].join('\n');
  const cells: Cell[] = [
    { cell_type: 'markdown', id: cellId('about', 0), metadata: {}, source: about.join('\n') },
    { cell_type: 'code', id: cellId('parameters', 0), metadata: { tags: ['parameters'] }, source: parametersSource(header.params), outputs: [], execution_count: null },
    { cell_type: 'code', id: cellId('setup', 0), metadata: { tags: ['millrace-sql-setup'] }, source: setup, outputs: [], execution_count: null },
    ...statementCells,
  ];
  const required = header.params.filter((p) => p.default === undefined).map((p) => p.name);
  const job = {
    kind: 'sql',
    path: spec.path,
    sha256: spec.sha256,
    engine: engine.name,
    ...(connection ? { connection } : {}),
    // Checked before a run is submitted (requiredJobParameters).
    ...(required.length ? { required } : {}),
  };
  return pythonNotebook(cells, { millrace: { job } });
}

const requiredSchema = z.object({ millrace: z.object({ job: z.object({ required: z.array(z.string()) }) }) });

/** The parameters a wrapped job declares without a default: none for any other notebook. */
export function requiredJobParameters(nb: Notebook): string[] {
  const parsed = requiredSchema.safeParse(nb.metadata);
  return parsed.success ? parsed.data.millrace.job.required : [];
}
