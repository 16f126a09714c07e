/**
 * The CLI's session helper and shared option parsers, without a stack: what is refused
 * before anything starts, and how errors become the user's one line.
 */
import { ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import { InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requireState, type Config } from '../../cli/config.js';
import { UserError } from '../../cli/errors.js';
import { cellIndex, positiveInt, positiveSeconds, wholeNumber } from '../../cli/options.js';
import { readDevFile } from '../../cli/environment.js';
import { EXIT } from '../../cli/errors.js';
import { longLivedOnly, outlives, runNotFound, temporalLost, withSession } from '../../cli/session.js';
import { processStartTime } from '../../worker/process.js';
import { checkRunArgument } from '../../cli/run-ids.js';
import { validateNewRunId, validateRunId } from '../../cli/submit.js';
import { findStateDir } from '../../worker/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function freshConfig(): Config {
  const parent = mkdtempSync(join(tmpdir(), 'millrace-session-'));
  dirs.push(parent);
  const stateDir = join(parent, 'state');
  return { namespace: 'default', taskQueue: 'millrace', stateDir, storeRoot: join(stateDir, 'store') };
}

describe('withSession', () => {
  it('refuses a long-lived need without TEMPORAL_ADDRESS or `millrace dev`, before it starts or creates anything', async () => {
    const config = freshConfig();
    let ran = false;
    const attempt = withSession({ needs: longLivedOnly('no running stack here'), config }, async () => {
      ran = true;
    });
    await expect(attempt).rejects.toThrow(new UserError('no running stack here'));
    expect(ran).toBe(false);
    // No lock, no SQLite file, not even the state directory.
    expect(existsSync(config.stateDir)).toBe(false);
  });

  it('words the refusal of commands whose runs must outlive them', async () => {
    await expect(withSession({ needs: outlives('--detach'), config: freshConfig() }, async () => 0)).rejects.toThrow(
      '--detach needs a stack that outlives this command: start `millrace dev` or set TEMPORAL_ADDRESS',
    );
  });
});

describe('runNotFound', () => {
  it('turns Temporal not knowing the run into the one line every command prints', () => {
    const mapped = runNotFound(new WorkflowNotFoundError('workflow not found', 'r1', undefined), 'r1');
    expect(mapped).toBeInstanceOf(UserError);
    expect((mapped as UserError).message).toBe('no run r1: see `millrace runs`');
    expect((mapped as UserError).exitCode).toBe(2);
  });

  it('lets other errors through, and a not-found of another run', () => {
    const other = new Error('boom');
    expect(runNotFound(other, 'r1')).toBe(other);
    const elsewhere = new WorkflowNotFoundError('workflow not found', 'r2', undefined);
    expect(runNotFound(elsewhere, 'r1')).toBe(elsewhere);
  });
});

describe('temporalLost', () => {
  /** What the client throws once its retries of an UNAVAILABLE call are spent. */
  function grpcError(code: number, details: string): Error {
    return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
  }

  it('turns UNAVAILABLE while following a run into one line, exit 3, saying how to follow it later', () => {
    const err = new ServiceError('Failed to get Workflow execution history', {
      cause: grpcError(14, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:7233'),
    });
    const lost = temporalLost(err, 'r1');
    expect(lost).toEqual(
      new UserError(
        'lost the connection to Temporal while following run r1; the run may still be going: once the stack is back, `millrace show r1` says how it stands',
        EXIT.environment,
      ),
    );
    expect((lost as UserError).exitCode).toBe(3);
  });

  it('lets other errors through', () => {
    const other = new ServiceError('Failed', { cause: grpcError(3, 'invalid argument') });
    expect(temporalLost(other, 'r1')).toBe(other);
    const plain = new Error('boom');
    expect(temporalLost(plain, 'r1')).toBe(plain);
  });
});

describe('readDevFile', () => {
  function writeDev(config: Config, dev: Record<string, unknown>): void {
    mkdirSync(config.stateDir, { recursive: true });
    const base = { temporalAddress: '127.0.0.1:1', namespace: 'default', taskQueue: 'q', jupyterUrl: 'http://127.0.0.1:1', jupyterTokenFile: 'x', worker: true };
    writeFileSync(join(config.stateDir, 'dev.json'), JSON.stringify({ ...base, ...dev }));
  }

  it('takes a live pid with its recorded start time for a running `millrace dev`', () => {
    const config = freshConfig();
    writeDev(config, { pid: process.pid, startTime: processStartTime(process.pid) });
    expect(readDevFile(config)?.pid).toBe(process.pid);
  });

  it('takes a live pid whose start time differs for a stale dev.json (the pid was reused)', () => {
    const config = freshConfig();
    const startTime = processStartTime(process.pid);
    expect(startTime).toMatch(/^\d+$/);
    writeDev(config, { pid: process.pid, startTime: String(Number(startTime) - 1) });
    expect(readDevFile(config)).toBeUndefined();
  });
});

describe('validateRunId', () => {
  it('names the argument the id came from', () => {
    expect(() => validateRunId('bad id', 'show')).toThrow(/^show "bad id": a run id is 1-128 letters/);
    expect(() => validateRunId('../x', '--id')).toThrow(/^--id "\.\.\/x": /);
    expect(validateRunId('ok-1', 'show')).toBe('ok-1');
  });

  it('keeps `latest` and `-` for the newest run: RUN arguments take them, `--id` refuses them', () => {
    expect(checkRunArgument('latest', 'show')).toBe('latest');
    expect(checkRunArgument('-', 'cancel')).toBe('-');
    expect(checkRunArgument('abc', 'show')).toBe('abc');
    expect(() => checkRunArgument('bad id', 'show')).toThrow(/^show "bad id": /);
    expect(() => validateNewRunId('latest')).toThrow('--id "latest": "latest" and "-" name the newest run wherever a run is given; choose another id');
    expect(() => validateNewRunId('-')).toThrow(/^--id "-": /);
    expect(validateNewRunId('latest-2')).toBe('latest-2');
  });
});

describe('findStateDir', () => {
  function tree(): { root: string; project: string; sub: string } {
    const root = mkdtempSync(join(tmpdir(), 'millrace-find-'));
    dirs.push(root);
    const project = join(root, 'project');
    const sub = join(project, 'a', 'b');
    mkdirSync(sub, { recursive: true });
    return { root, project, sub };
  }

  it('finds the nearest .millrace walking up, as git finds .git', () => {
    const { root, project, sub } = tree();
    mkdirSync(join(project, '.millrace'));
    const env = { MILLRACE_CEILING_DIRECTORIES: root };
    expect(findStateDir(env, sub)).toEqual({ dir: join(project, '.millrace'), found: true, searched: join(project, '.millrace') });
    mkdirSync(join(sub, '.millrace'));
    expect(findStateDir(env, sub).dir).toBe(join(sub, '.millrace'));
    // A file named .millrace is not state.
    writeFileSync(join(project, 'a', '.millrace'), '');
    expect(findStateDir(env, join(project, 'a')).dir).toBe(join(project, '.millrace'));
  });

  it('says where it looked when there is none, naming the ceiling, and names where run would create it', () => {
    const { root, sub } = tree();
    // Above the ceiling it does not look: a .millrace there is not this project's.
    mkdirSync(join(root, '.millrace'));
    expect(findStateDir({ MILLRACE_CEILING_DIRECTORIES: `relative:${root}` }, sub)).toEqual({
      dir: join(sub, '.millrace'),
      found: false,
      searched: `${sub} or any folder above it below ${root} (MILLRACE_CEILING_DIRECTORIES)`,
    });
    expect(findStateDir({}, sub).dir).toBe(join(root, '.millrace'));
  });

  it('takes MILLRACE_HOME as it is, found only if it exists', () => {
    const { root, sub } = tree();
    expect(findStateDir({ MILLRACE_HOME: join(root, 'home') }, sub)).toEqual({ dir: join(root, 'home'), found: false, searched: `MILLRACE_HOME=${join(root, 'home')}` });
    expect(findStateDir({ MILLRACE_HOME: root }, sub).found).toBe(true);
  });
});

describe('requireState', () => {
  it('refuses in one line naming where it looked and how to fix it, creating nothing', async () => {
    const config: Config = { ...freshConfig(), stateNotFound: '/p/q or any folder above it' };
    expect(() => requireState(config)).toThrow(
      new UserError('no millrace state (.millrace) in /p/q or any folder above it: run this from your project\'s folder (where `millrace run` created .millrace), or set MILLRACE_HOME'),
    );
    let ran = false;
    await expect(withSession({ needs: { kind: 'history' }, config }, async () => (ran = true))).rejects.toThrow(/^no millrace state/);
    expect(ran).toBe(false);
    expect(existsSync(config.stateDir)).toBe(false);
  });
});

describe('option parsers', () => {
  it('take what their help says and refuse the rest in commander\'s way', () => {
    expect(positiveSeconds('--timeout')('1.5')).toBe(1.5);
    expect(() => positiveSeconds('--timeout')('0')).toThrow(new InvalidArgumentError('--timeout takes a positive number of seconds'));
    expect(positiveInt('3')).toBe(3);
    expect(() => positiveInt('1.5')).toThrow('takes a positive whole number');
    expect(wholeNumber('0')).toBe(0);
    expect(() => wholeNumber('-1')).toThrow('takes a whole number (0 or more)');
    expect(cellIndex('2')).toBe(2);
    expect(() => cellIndex('x')).toThrow('takes a cell index (0, 1, ...)');
  });
});
