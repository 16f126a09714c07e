// When a command does not ask `millrace dev` (cli/dev-api.ts) and does the work itself. The
// answering dev is tested end to end (test/e2e/dev-api.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../cli/config.js';
import { askDev, DEV_API_HEADER, DEV_API_VERSION, devApiSocket, devTarget, runInputEnv } from '../../cli/dev-api.js';

const stateDir = mkdtempSync(join(tmpdir(), 'millrace-dev-api-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
const config = (more: Partial<Config> = {}): Config => ({ namespace: 'default', taskQueue: 'millrace', stateDir, storeRoot: join(stateDir, 'store'), ...more }) as Config;

describe('askDev', () => {
  it('does not ask when no dev serves the state directory', async () => {
    expect(await askDev(config(), 'runs', {})).toBeUndefined();
  });

  it('does not ask a socket that a killed dev left behind', async () => {
    // A process that listens on the socket and dies without closing it, as `kill -9` of dev.
    const socket = devApiSocket(stateDir);
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(existsSync(socket)).toBe(true);
    expect(await askDev(config(), 'runs', {})).toBeUndefined();
  });

  it('asks what listens on the socket, unless TEMPORAL_ADDRESS names a cluster, which comes first', async () => {
    // A stand-in for dev's side (cli/dev-server.ts) that answers as dev does.
    const socket = devApiSocket(stateDir);
    rmSync(socket, { force: true });
    const server = createServer((req, res) => {
      const ok = req.url === '/runs';
      res.writeHead(ok ? 200 : 422, { 'content-type': 'application/json', [DEV_API_HEADER]: DEV_API_VERSION });
      res.end(JSON.stringify(ok ? [{ run_id: 'r1' }] : { error: 'no such run', exitCode: 2 }));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      expect(await askDev(config(), 'runs', {})).toEqual([{ run_id: 'r1' }]);
      await expect(askDev(config(), 'show', {})).rejects.toMatchObject({ name: 'UserError', message: 'no such run', exitCode: 2 });
      expect(await askDev(config({ temporalAddress: '127.0.0.1:1' }), 'runs', {})).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a dev of another version of this API, whatever it answers, with a line that says what to do', async () => {
    // A state directory of its own: the HTTP agent may still hold a connection to the socket above.
    const other = join(stateDir, 'other');
    mkdirSync(other);
    const socket = devApiSocket(other);
    const seen: unknown[] = [];
    // A dev of an earlier millrace: no version header, and an answer that looks fine.
    const server = createServer((req, res) => {
      seen.push(req.headers[DEV_API_HEADER]);
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      await expect(askDev(config({ stateDir: other }), 'runs', {})).rejects.toMatchObject({
        name: 'UserError',
        message: `millrace dev in ${other} was started by another version of millrace: stop it (Ctrl-C where it runs) and start \`millrace dev\` again`,
        exitCode: 3,
      });
      // The command says which version it speaks, so a newer dev can refuse it in turn.
      expect(seen).toEqual([DEV_API_VERSION]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('what `run` hands dev of its environment and folder (runInputEnv, devTarget)', () => {
  // A command called in `project/sub`, its state one folder up, relative paths in its environment.
  const project = join(stateDir, 'project');
  const sub = join(project, 'sub');
  mkdirSync(join(project, '.millrace'), { recursive: true });
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(sub, 'token'), 'from-file\n');
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/bin',
    HOME: '/home/someone',
    MILLRACE_STORE: 'store-here',
    MILLRACE_KERNEL_ENV: 'DB_*',
    MILLRACE_TASK_QUEUE: 'q',
    TEMPORAL_NAMESPACE: 'ns',
    MILLRACE_JUPYTER_TOKEN_FILE: 'token',
    MILLRACE_CONNECTION_WAREHOUSE: 'postgresql://user:secret@db/x',
    AWS_SECRET_ACCESS_KEY: 'secret',
  };

  it('gives the configuration the command would load itself, from another folder, and no secret', () => {
    const handed = runInputEnv(env);
    expect(JSON.stringify(handed)).not.toContain('secret');
    // dev's own folder is elsewhere: relative paths are the command's.
    const { jupyterToken: _token, ...own } = loadConfig(env, sub);
    expect(own).toMatchObject({ stateDir: join(project, '.millrace'), storeRoot: join(sub, 'store-here'), kernelEnv: ['DB_*'], taskQueue: 'q', namespace: 'ns' });
    expect(loadConfig(handed, sub)).toEqual({ ...own, jupyterToken: 'from-file' });
    // A token set: its file is not read, and neither travels.
    const withToken = { ...env, MILLRACE_JUPYTER_TOKEN: 'tok', MILLRACE_JUPYTER_TOKEN_FILE: 'missing' };
    expect(runInputEnv(withToken)).not.toHaveProperty('MILLRACE_JUPYTER_TOKEN_FILE');
    expect(JSON.stringify(runInputEnv(withToken))).not.toContain('tok');
    expect(() => loadConfig(runInputEnv(withToken), sub)).not.toThrow();
    // A refusal of the environment is the same either way.
    const bad = { ...env, MILLRACE_JUPYTER_URL: 'not a url' };
    expect(() => loadConfig(runInputEnv(bad), sub)).toThrow('MILLRACE_JUPYTER_URL: MILLRACE_JUPYTER_URL must be an http(s) URL');
    expect(() => loadConfig(bad, sub)).toThrow('MILLRACE_JUPYTER_URL: MILLRACE_JUPYTER_URL must be an http(s) URL');
  });

  it('finds the state directory as loadConfig does, and leaves a possible cluster to the configuration', () => {
    expect(devTarget(env, sub)).toEqual({ stateDir: loadConfig(env, sub).stateDir });
    expect(devTarget({ ...env, MILLRACE_HOME: 'elsewhere' }, sub)).toEqual({ stateDir: join(sub, 'elsewhere') });
    for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_PROFILE', 'TEMPORAL_CONFIG_FILE']) expect(devTarget({ ...env, [name]: 'x:1' }, sub)).toBeUndefined();
    expect(devTarget({ ...env, TEMPORAL_ADDRESS: '' }, sub)).toEqual({ stateDir: join(project, '.millrace') });
  });
});
