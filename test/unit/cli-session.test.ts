/**
 * The CLI's session helper and shared option parsers, without a stack: what is refused
 * before anything starts, and how errors become the user's one line.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { InvalidArgumentError } from 'commander';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../cli/config.js';
import { UserError } from '../../cli/errors.js';
import { cellIndex, positiveInt, positiveSeconds, wholeNumber } from '../../cli/options.js';
import { longLivedOnly, outlives, runNotFound, withSession } from '../../cli/session.js';
import { validateRunId } from '../../cli/submit.js';

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

describe('validateRunId', () => {
  it('names the argument the id came from', () => {
    expect(() => validateRunId('bad id', 'show')).toThrow(/^show "bad id": a run id is 1-128 letters/);
    expect(() => validateRunId('../x', '--id')).toThrow(/^--id "\.\.\/x": /);
    expect(validateRunId('ok-1', 'show')).toBe('ok-1');
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
