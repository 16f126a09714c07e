/**
 * The standard Temporal connection settings (worker/temporal-connection.ts): the env-config
 * TOML file's profiles, the TEMPORAL_* variables over them, and what millrace's config
 * makes of them (cli/config.ts): a cluster only when TEMPORAL_ADDRESS or a chosen profile
 * names one.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../cli/config.js';
import { parseToml, temporalProfile } from '../../worker/temporal-connection.js';

const dir = mkdtempSync(join(tmpdir(), 'millrace-envconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ca = file('ca.pem', 'CA PEM');
const crt = file('client.pem', 'CLIENT PEM');
const key = file('client.key', 'KEY PEM');
const toml = file(
  'temporal.toml',
  `# profiles
[profile.default]
address = "default.example:7233"
namespace = "ns-default"

[profile.prod]
address = "prod.example:7233" # trailing comment
namespace = 'ns-prod'
api_key = "key-from-file"

[profile.prod.tls]
server_ca_cert_path = "${ca}"
server_name = "temporal.internal"

[profile.prod.grpc_meta]
x-team = "data"

[profile."mtls"]
address = "mtls.example:7233"
tls.client_cert_path = "${crt}"
tls.client_key_path = "${key}"
tls.server_ca_cert_data = """
-----BEGIN CERTIFICATE-----
abc
-----END CERTIFICATE-----"""
`,
);

describe('temporalProfile', () => {
  it('reads the default profile of the file, and the one TEMPORAL_PROFILE names', () => {
    const d = temporalProfile({ TEMPORAL_CONFIG_FILE: toml });
    expect(d).toMatchObject({ address: 'default.example:7233', namespace: 'ns-default', connection: {}, chosen: true });
    const prod = temporalProfile({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' });
    expect(prod.address).toBe('prod.example:7233');
    expect(prod.namespace).toBe('ns-prod');
    expect(prod.connection).toEqual({
      tls: { serverNameOverride: 'temporal.internal', serverRootCACertificate: Buffer.from('CA PEM') },
      apiKey: 'key-from-file',
      metadata: { 'x-team': 'data' },
    });
  });

  it('mTLS from paths and PEM data in a multi-line string', () => {
    const p = temporalProfile({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'mtls' });
    expect(p.connection.tls).toEqual({
      serverRootCACertificate: Buffer.from('-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----'),
      clientCertPair: { crt: Buffer.from('CLIENT PEM'), key: Buffer.from('KEY PEM') },
    });
  });

  it('TEMPORAL_* variables override the profile', () => {
    const p = temporalProfile({
      TEMPORAL_CONFIG_FILE: toml,
      TEMPORAL_PROFILE: 'prod',
      TEMPORAL_ADDRESS: 'other:7233',
      TEMPORAL_NAMESPACE: 'ns-env',
      TEMPORAL_API_KEY: 'key-from-env',
      TEMPORAL_TLS_CLIENT_CERT_PATH: crt,
      TEMPORAL_TLS_CLIENT_KEY_PATH: key,
      TEMPORAL_GRPC_META_X_TEAM: '',
      TEMPORAL_GRPC_META_X_REGION: 'eu',
    });
    expect(p).toMatchObject({ address: 'other:7233', namespace: 'ns-env' });
    expect(p.connection.apiKey).toBe('key-from-env');
    expect(p.connection.metadata).toEqual({ 'x-region': 'eu' });
    expect(p.connection.tls).toMatchObject({ serverNameOverride: 'temporal.internal', clientCertPair: { crt: Buffer.from('CLIENT PEM') } });
  });

  it('with no file: the variables alone; an API key turns TLS on, TEMPORAL_TLS=false off', () => {
    const none = join(dir, 'absent.toml');
    expect(temporalProfile({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') })).toEqual({ connection: {}, chosen: false });
    expect(temporalProfile({ HOME: dir, TEMPORAL_API_KEY: 'k' }).connection).toEqual({ tls: true, apiKey: 'k' });
    expect(temporalProfile({ HOME: dir, TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }).connection).toEqual({ tls: false, apiKey: 'k' });
    expect(temporalProfile({ HOME: dir, TEMPORAL_TLS: 'true' }).connection).toEqual({ tls: true });
    expect(temporalProfile({ HOME: dir, TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca }).connection).toEqual({ tls: { serverRootCACertificate: Buffer.from('CA PEM') } });
    expect(() => temporalProfile({ TEMPORAL_CONFIG_FILE: none })).toThrow(/^TEMPORAL_CONFIG_FILE: cannot read .*absent\.toml: ENOENT$/);
  });

  it('the default file at the standard location (XDG_CONFIG_HOME, else ~/.config)', () => {
    mkdirSync(join(dir, 'xdg', 'temporalio'), { recursive: true });
    writeFileSync(join(dir, 'xdg', 'temporalio', 'temporal.toml'), '[profile.default]\napi_key = "k"\n');
    expect(temporalProfile({ HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg') }).connection).toEqual({ tls: true, apiKey: 'k' });
  });

  it('bad settings: one line naming the file or variable', () => {
    expect(() => temporalProfile({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'nope' })).toThrow(`TEMPORAL_PROFILE: no profile "nope" in ${toml}`);
    expect(() => temporalProfile({ HOME: dir, TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing.pem') })).toThrow(/^TLS server CA certificate: cannot read .*missing\.pem: ENOENT$/);
    expect(() => temporalProfile({ HOME: dir, TEMPORAL_TLS_CLIENT_CERT_PATH: crt })).toThrow('TLS: a client certificate needs its key, and a key its certificate');
    const typo = file('typo.toml', '[profile.default]\nadress = "x:1"\n');
    expect(() => temporalProfile({ TEMPORAL_CONFIG_FILE: typo })).toThrow(new RegExp(`^${typo}: profile\\.default: Unrecognized key: "adress"`));
    const broken = file('broken.toml', '[profile.default]\naddress = [1, 2]\n');
    expect(() => temporalProfile({ TEMPORAL_CONFIG_FILE: broken })).toThrow(`${broken} line 2: unsupported value [1, 2]`);
  });

  it('parseToml: strings, escapes, booleans, comments', () => {
    expect(parseToml('a = "x\\"#y" # c\nb = true\n[t."q.r"]\nc = \'lit\\n\'\n')).toEqual({ a: 'x"#y', b: true, t: { 'q.r': { c: 'lit\\n' } } });
  });
});

describe('loadConfig', () => {
  it('a cluster when TEMPORAL_ADDRESS or a chosen profile names one; a default profile alone does not', () => {
    const base = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg'), MILLRACE_HOME: join(dir, 'state') };
    expect(loadConfig(base).temporalAddress).toBeUndefined();
    const viaProfile = loadConfig({ ...base, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' });
    expect(viaProfile).toMatchObject({ temporalAddress: 'prod.example:7233', namespace: 'ns-prod', temporalConnection: { apiKey: 'key-from-file' } });
    const viaEnv = loadConfig({ ...base, TEMPORAL_ADDRESS: 'h:7233' });
    expect(viaEnv).toMatchObject({ temporalAddress: 'h:7233', namespace: 'default', temporalConnection: { tls: true, apiKey: 'k' } });
  });
});
