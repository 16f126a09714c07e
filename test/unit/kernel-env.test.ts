import { describe, expect, it } from 'vitest';
import { KernelEnvError, kernelEnvironment, kernelEnvMatcher, parseKernelEnvPatterns } from '../../worker/kernel-env.js';

const WORKER_ENV = {
  PATH: '/usr/bin',
  HOME: '/home/w',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  PYTHONPATH: '/lib',
  PYTHONHASHSEED: '0',
  PYTHON_KEYRING_PASSWORD: 'hunter2',
  CONDA_PREFIX: '/opt/conda',
  CONDA_TOKEN: 'secret',
  VIRTUAL_ENV: '/venv',
  AWS_ACCESS_KEY_ID: 'AKIA',
  AWS_SECRET_ACCESS_KEY: 'shh',
  AWS_PROFILE: 'store',
  MILLRACE_STORE_SECRET_ACCESS_KEY: 'shh',
  MILLRACE_JUPYTER_TOKEN_FILE: '/s/jupyter-token',
  JUPYTER_TOKEN: 'tok',
  JUPYTER_PATH: '/share/jupyter',
  TEMPORAL_ADDRESS: 'cluster:7233',
  TEMPORAL_TLS_CLIENT_KEY_PATH: '/keys/client.key',
  DB_HOST: 'db',
  DB_PASSWORD: 'pw',
  GITHUB_TOKEN: 'ghp',
  http_proxy: 'http://user:pw@proxy:3128',
};

describe('the kernel environment allow-list', () => {
  it('passes the documented defaults and nothing else', () => {
    expect(Object.keys(kernelEnvironment(WORKER_ENV, [])).sort()).toEqual(
      ['CONDA_PREFIX', 'HOME', 'JUPYTER_PATH', 'LANG', 'LC_ALL', 'PATH', 'PYTHONHASHSEED', 'PYTHONPATH', 'VIRTUAL_ENV'].sort(),
    );
  });

  it('never lets a default glob pass a name that looks like a credential', () => {
    const passes = kernelEnvMatcher([]);
    expect(passes('PYTHON_KEYRING_PASSWORD')).toBe(false);
    expect(passes('CONDA_TOKEN')).toBe(false);
    expect(passes('PYTHONSTARTUP')).toBe(true);
  });

  it('adds what the operator names, exactly or by glob', () => {
    const env = kernelEnvironment(WORKER_ENV, ['DB_*', 'GITHUB_TOKEN']);
    expect(env['DB_HOST']).toBe('db');
    expect(env['DB_PASSWORD']).toBe('pw');
    expect(env['GITHUB_TOKEN']).toBe('ghp');
    expect(env['http_proxy']).toBeUndefined();
    expect(kernelEnvMatcher(['?B_HOST'])('DB_HOST')).toBe(true);
  });

  it("keeps the stack's secrets out of every glob, even *", () => {
    const env = kernelEnvironment(WORKER_ENV, ['*']);
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE', 'MILLRACE_STORE_SECRET_ACCESS_KEY', 'MILLRACE_JUPYTER_TOKEN_FILE', 'JUPYTER_TOKEN', 'TEMPORAL_ADDRESS', 'TEMPORAL_TLS_CLIENT_KEY_PATH']) {
      expect(env[name], name).toBeUndefined();
    }
    expect(env['DB_PASSWORD']).toBe('pw');
    expect(env['http_proxy']).toBeDefined();
    expect(kernelEnvMatcher(['AWS_*'])('AWS_PROFILE')).toBe(false);
  });

  it("passes SQL jobs' connections, which are meant for the kernel", () => {
    const env = kernelEnvironment({ ...WORKER_ENV, MILLRACE_CONNECTION_WAREHOUSE: 'duckdb:///w.db', MILLRACE_CONNECTION_API_KEY: 'trino://u:p@h' }, []);
    expect(env['MILLRACE_CONNECTION_WAREHOUSE']).toBe('duckdb:///w.db');
    expect(env['MILLRACE_CONNECTION_API_KEY']).toBe('trino://u:p@h');
    expect(env['MILLRACE_STORE_SECRET_ACCESS_KEY']).toBeUndefined();
  });

  it('passes a protected variable only when named exactly', () => {
    expect(kernelEnvironment(WORKER_ENV, ['AWS_PROFILE'])['AWS_PROFILE']).toBe('store');
  });

  it('reads names and globs, several to a value, and refuses anything else in one line', () => {
    expect(parseKernelEnvPatterns(['DB_*, API_URL  X', 'Y?'], '--kernel-env')).toEqual(['DB_*', 'API_URL', 'X', 'Y?']);
    expect(parseKernelEnvPatterns([], 'MILLRACE_KERNEL_ENV')).toEqual([]);
    expect(() => parseKernelEnvPatterns(['DB=1'], 'MILLRACE_KERNEL_ENV')).toThrow(
      new KernelEnvError('MILLRACE_KERNEL_ENV: "DB=1" is not a variable name or a glob of one (letters, digits, _, * and ?)'),
    );
    expect(() => parseKernelEnvPatterns(['1ABC'], '--kernel-env')).toThrow(KernelEnvError);
    expect(() => parseKernelEnvPatterns(['A.*'], '--kernel-env')).toThrow(KernelEnvError);
  });
});
