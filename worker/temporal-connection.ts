/**
 * How millrace connects to a Temporal cluster: the standard settings every Temporal SDK and
 * the `temporal` CLI read (Temporal's "environment configuration"), so one profile serves
 * them all. The TOML file (TEMPORAL_CONFIG_FILE, else `<user config dir>/temporalio/temporal.toml`)
 * holds profiles (TEMPORAL_PROFILE, else `default`); TEMPORAL_* variables override a
 * profile's fields. @temporalio/envconfig does this for the TypeScript SDK but is not a
 * dependency here; this follows its rules, for the fields millrace uses:
 *   address, namespace, api_key            TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY
 *   [tls] disabled                         TEMPORAL_TLS (true/1: on; anything else: off)
 *   [tls] client_cert_path / _data         TEMPORAL_TLS_CLIENT_CERT_PATH / _DATA
 *   [tls] client_key_path / _data          TEMPORAL_TLS_CLIENT_KEY_PATH / _DATA
 *   [tls] server_ca_cert_path / _data      TEMPORAL_TLS_SERVER_CA_CERT_PATH / _DATA
 *   [tls] server_name                      TEMPORAL_TLS_SERVER_NAME
 *   [grpc_meta] NAME = "value"             TEMPORAL_GRPC_META_NAME (NAME lower-cased, _ → -)
 * TLS is on when any TLS setting is given or an API key is (unless disabled). Secrets (the
 * API key, keys) stay in the returned options: never logged, never in history.
 */
import type { TLSConfig } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { homedir, platform } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';

/** A setting that cannot be used: one line, naming the file or variable. */
export class TemporalConfigError extends Error {}

/** What `Connection.connect` and `NativeConnection.connect` take besides the address. */
export interface TemporalConnectionOptions {
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
}

export interface TemporalProfile {
  address?: string;
  namespace?: string;
  connection: TemporalConnectionOptions;
  /** Whether the user chose a profile or file (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE), so its address counts. */
  chosen: boolean;
}

const tlsSchema = z
  .object({
    disabled: z.boolean(),
    client_cert_path: z.string(),
    client_cert_data: z.string(),
    client_key_path: z.string(),
    client_key_data: z.string(),
    server_ca_cert_path: z.string(),
    server_ca_cert_data: z.string(),
    server_name: z.string(),
    disable_host_verification: z.boolean(),
  })
  .partial()
  .strict();
const profileSchema = z
  .object({
    address: z.string(),
    namespace: z.string(),
    api_key: z.string(),
    tls: tlsSchema,
    codec: z.record(z.string(), z.unknown()),
    grpc_meta: z.record(z.string(), z.string()),
  })
  .partial()
  .strict();
const fileSchema = z.object({ profile: z.record(z.string(), profileSchema).default({}) }).strict();
type Profile = z.infer<typeof profileSchema>;
type Tls = z.infer<typeof tlsSchema>;

/** The profile in effect, with the environment's overrides applied. */
export function temporalProfile(env: NodeJS.ProcessEnv = process.env): TemporalProfile {
  const file = env['TEMPORAL_CONFIG_FILE'] || defaultConfigFile(env);
  const profileName = env['TEMPORAL_PROFILE'] || undefined;
  let profile: Profile = {};
  const text = readConfigFile(file, Boolean(env['TEMPORAL_CONFIG_FILE']));
  if (text !== undefined) {
    const parsed = fileSchema.safeParse(parseToml(text, file));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TemporalConfigError(`${file}: ${issue.path.join('.') || 'file'}: ${issue.message}`);
    }
    const found = parsed.data.profile[profileName ?? 'default'];
    if (!found && profileName) throw new TemporalConfigError(`TEMPORAL_PROFILE: no profile "${profileName}" in ${file}`);
    profile = found ?? {};
  } else if (profileName) {
    throw new TemporalConfigError(`TEMPORAL_PROFILE: no profile "${profileName}": ${file} does not exist`);
  }
  const tls: Tls = { ...profile.tls, ...tlsFromEnv(env) };
  const apiKey = env['TEMPORAL_API_KEY'] || profile.api_key;
  const metadata = { ...profile.grpc_meta };
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('TEMPORAL_GRPC_META_')) continue;
    const name = key.slice('TEMPORAL_GRPC_META_'.length).toLowerCase().replaceAll('_', '-');
    if (value) metadata[name] = value;
    else delete metadata[name];
  }
  const tlsOption = tlsConfig(tls, apiKey !== undefined);
  return {
    address: env['TEMPORAL_ADDRESS'] || profile.address,
    namespace: env['TEMPORAL_NAMESPACE'] || profile.namespace,
    connection: {
      ...(tlsOption !== undefined ? { tls: tlsOption } : {}),
      ...(apiKey ? { apiKey } : {}),
      ...(Object.keys(metadata).length ? { metadata } : {}),
    },
    chosen: Boolean(env['TEMPORAL_PROFILE'] || env['TEMPORAL_CONFIG_FILE']),
  };
}

function tlsFromEnv(env: NodeJS.ProcessEnv): Tls {
  const tls: Tls = {};
  const set = <K extends keyof Tls>(key: K, value: Tls[K] | undefined) => {
    if (value !== undefined && value !== '') tls[key] = value;
  };
  if (env['TEMPORAL_TLS']) tls.disabled = !['1', 'true'].includes(env['TEMPORAL_TLS'].toLowerCase());
  set('client_cert_path', env['TEMPORAL_TLS_CLIENT_CERT_PATH']);
  set('client_cert_data', env['TEMPORAL_TLS_CLIENT_CERT_DATA']);
  set('client_key_path', env['TEMPORAL_TLS_CLIENT_KEY_PATH']);
  set('client_key_data', env['TEMPORAL_TLS_CLIENT_KEY_DATA']);
  set('server_ca_cert_path', env['TEMPORAL_TLS_SERVER_CA_CERT_PATH']);
  set('server_ca_cert_data', env['TEMPORAL_TLS_SERVER_CA_CERT_DATA']);
  set('server_name', env['TEMPORAL_TLS_SERVER_NAME']);
  if (env['TEMPORAL_TLS_DISABLE_HOST_VERIFICATION']) tls.disable_host_verification = ['1', 'true'].includes(env['TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'].toLowerCase());
  return tls;
}

function tlsConfig(tls: Tls, hasApiKey: boolean): TLSConfig | boolean | undefined {
  if (tls.disabled) return false;
  if (tls.disable_host_verification) {
    throw new TemporalConfigError('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION (tls.disable_host_verification) is not supported by the TypeScript SDK: give the server\'s CA instead');
  }
  const read = (what: string, data: string | undefined, path: string | undefined): Buffer | undefined => {
    if (data !== undefined && path !== undefined) throw new TemporalConfigError(`TLS: give ${what} as a path or as data, not both`);
    if (data !== undefined) return Buffer.from(data);
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TemporalConfigError(`TLS ${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const ca = read('server CA certificate', tls.server_ca_cert_data, tls.server_ca_cert_path);
  const crt = read('client certificate', tls.client_cert_data, tls.client_cert_path);
  const key = read('client key', tls.client_key_data, tls.client_key_path);
  if (Boolean(crt) !== Boolean(key)) throw new TemporalConfigError('TLS: a client certificate needs its key, and a key its certificate');
  const config: TLSConfig = {
    ...(tls.server_name ? { serverNameOverride: tls.server_name } : {}),
    ...(ca ? { serverRootCACertificate: ca } : {}),
    ...(crt && key ? { clientCertPair: { crt, key } } : {}),
  };
  if (Object.keys(config).length) return config;
  return tls.disabled === false || hasApiKey ? true : undefined;
}

function defaultConfigFile(env: NodeJS.ProcessEnv): string {
  if (platform() === 'darwin') return join(env['HOME'] || homedir(), 'Library', 'Application Support', 'temporalio', 'temporal.toml');
  if (platform() === 'win32') return join(env['APPDATA'] ?? homedir(), 'temporalio', 'temporal.toml');
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.config'), 'temporalio', 'temporal.toml');
}

/** The file's text; a missing default file is no file at all, a missing named one an error. */
function readConfigFile(path: string, named: boolean): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !named) return undefined;
    throw new TemporalConfigError(`TEMPORAL_CONFIG_FILE: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The part of TOML these files use: [tables] with dotted and quoted names, `key = value`
 * with strings (basic, literal, and their multi-line forms for PEM data), booleans and
 * integers, and comments. Anything else is refused with its line number.
 */
export function parseToml(text: string, file = 'TOML'): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let table = root;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${file} line ${i + 1}`;
    const line = stripComment(lines[i]!).trim();
    if (!line) continue;
    if (line.startsWith('[')) {
      if (!line.endsWith(']') || line.startsWith('[[')) throw new TemporalConfigError(`${where}: unsupported table header`);
      table = root;
      for (const part of splitKey(line.slice(1, -1), where)) {
        const next = (table[part] ??= {}) as Record<string, unknown>;
        if (typeof next !== 'object' || next === null) throw new TemporalConfigError(`${where}: ${part} is not a table`);
        table = next;
      }
      continue;
    }
    const eq = findEquals(line);
    if (eq < 0) throw new TemporalConfigError(`${where}: expected key = value`);
    const keys = splitKey(line.slice(0, eq), where);
    let raw = line.slice(eq + 1).trim();
    // Multi-line strings run to their closing quotes.
    for (const quotes of ['"""', "'''"]) {
      if (raw.startsWith(quotes) && (raw.length < 6 || !raw.endsWith(quotes))) {
        while (++i < lines.length && !lines[i]!.includes(quotes)) raw += `\n${lines[i]}`;
        if (i >= lines.length) throw new TemporalConfigError(`${where}: unclosed ${quotes}`);
        raw += `\n${lines[i]!.slice(0, lines[i]!.indexOf(quotes) + 3)}`;
      }
    }
    let target = table;
    for (const key of keys.slice(0, -1)) target = (target[key] ??= {}) as Record<string, unknown>;
    target[keys[keys.length - 1]!] = tomlValue(raw, where);
  }
  return root;
}

function stripComment(line: string): string {
  const hash = unquotedIndex(line, '#');
  return hash < 0 ? line : line.slice(0, hash);
}

function findEquals(line: string): number {
  return unquotedIndex(line, '=');
}

/** Where `target` first appears outside a quoted string, or -1. */
function unquotedIndex(line: string, target: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === target) return i;
  }
  return -1;
}

function splitKey(key: string, where: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(\.|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < key.length && (m = re.exec(key))) {
    parts.push(m[1] !== undefined ? unescape(m[1], where) : (m[2] ?? m[3]!));
    if (m[4] === '') break;
  }
  if (!parts.length || re.lastIndex < key.trimEnd().length) throw new TemporalConfigError(`${where}: bad key "${key.trim()}"`);
  return parts;
}

function tomlValue(raw: string, where: string): unknown {
  if (raw.startsWith('"""')) return unescape(raw.slice(3, -3).replace(/^\n/, ''), where);
  if (raw.startsWith("'''")) return raw.slice(3, -3).replace(/^\n/, '');
  if (/^"((?:[^"\\]|\\.)*)"$/.test(raw)) return unescape(raw.slice(1, -1), where);
  if (/^'[^']*'$/.test(raw)) return raw.slice(1, -1);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^[+-]?\d+$/.test(raw)) return Number(raw);
  throw new TemporalConfigError(`${where}: unsupported value ${raw.slice(0, 40)}`);
}

function unescape(s: string, where: string): string {
  return s.replace(/\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|["\\bfnrt])/g, (_, e: string) => {
    const simple: Record<string, string> = { '"': '"', '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
    if (e in simple) return simple[e]!;
    const code = parseInt(e.slice(1), 16);
    if (Number.isNaN(code)) throw new TemporalConfigError(`${where}: bad escape`);
    return String.fromCodePoint(code);
  });
}

let ipServerNameWarningMuted = false;

/**
 * Node warns (DEP0123) when a TLS client names an IP address as the server name, which the
 * gRPC client does for every cluster reached by IP (TEMPORAL_ADDRESS=10.0.0.5:7233): not a
 * thing users can change, so not printed to them. Other warnings pass.
 */
export function muteIpServerNameWarning(): void {
  if (ipServerNameWarningMuted) return;
  ipServerNameWarningMuted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const code = typeof args[1] === 'object' ? (args[1] as { code?: string } | null)?.code : args[2];
    if (code !== 'DEP0123') emit(...args);
  }) as typeof process.emitWarning;
}
