import { mkdtempSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowListFromEnv, mergePlacement, placementAhead, recordedPlacement, refusal, withWorkerEnv } from '../../activities/kernel-placement.js';
import { placementArgs } from '../../cli/placement-options.js';
import { poolKey } from '../../activities/kernel-pool.js';
import type { KernelPlacement } from '../../workflows/contracts.js';
import { looksSecret, parseEnvAssignment, parseMount } from '../../notebook/placement-syntax.js';

const allow = { images: ['kernel:1'], mounts: ['/srv/data'], env: ['GREETING'] };

describe('kernel placement', () => {
  it('parses mounts and variables, refusing what is not of their form', () => {
    expect(parseMount('/a:/b')).toEqual({ source: '/a', target: '/b', readOnly: false });
    expect(parseMount('/a:/b:ro')).toEqual({ source: '/a', target: '/b', readOnly: true });
    expect(() => parseMount('a:/b')).toThrow('--mount a:/b: both paths must be absolute');
    expect(() => parseMount('/a')).toThrow('--mount /a: expected SRC:DST or SRC:DST:ro');
    expect(() => parseMount('/a:/b:rx')).toThrow('expected SRC:DST or SRC:DST:ro');
    expect(parseEnvAssignment('A=b=c')).toEqual(['A', 'b=c']);
    expect(() => parseEnvAssignment('1A=b')).toThrow('--env 1A=b: expected NAME=VALUE');
  });

  it("takes the notebook's fields, the command line's winning", () => {
    expect(mergePlacement(undefined, undefined)).toBeUndefined();
    expect(mergePlacement({ memory: '1g', env: { A: 'cli' } }, { image: 'kernel:1', memory: '2g', env: { A: 'nb', B: 'nb' } })).toEqual({
      image: 'kernel:1',
      memory: '1g',
      env: { A: 'cli', B: 'nb' },
    });
    expect(() => mergePlacement(undefined, { cpus: 'two' })).toThrow(/^metadata\.millrace\.kernel\.cpus: /);
  });

  it('refuses by default, and what the allow-list does not name', () => {
    expect(refusal(undefined, { images: [], mounts: [], env: [] })).toBeUndefined();
    expect(refusal({ image: 'kernel:1' }, { images: [], mounts: [], env: [] })).toBe(
      'image "kernel:1" is not allowed on this worker (allow it with: millrace worker --allow-image kernel:1)',
    );
    expect(refusal({ image: 'kernel:1', env: { GREETING: 'x' }, mounts: ['/srv/data/sub:/d:ro'], memory: '512m', cpus: 1 }, allow)).toBeUndefined();
    expect(refusal({ image: 'kernel:1', mounts: ['/srv/database:/d'] }, allow)).toMatch(/^mount source "\/srv\/database" is not allowed/);
    expect(refusal({ image: 'kernel:1', mounts: ['/srv/data/../secret:/d'] }, allow)).toMatch(/^mount source "\/srv\/data\/\.\.\/secret" is not allowed/);
    expect(refusal({ image: 'kernel:1', env: { HOME: '/' } }, allow)).toMatch(/^environment variable "HOME" is not allowed/);
    expect(refusal({ image: 'kernel:1', memory: 'lots' }, allow)).toBe('--memory lots: expected a size such as 512m or 2g');
    expect(refusal({ cpus: 1 }, allow)).toBe('--cpus, --memory, --env and --mount place the kernel in a container: choose its image with --image');
  });

  it('follows symlinks out of an allowed folder, and refuses them', () => {
    const root = mkdtempSync(join(tmpdir(), 'placement-'));
    mkdirSync(join(root, 'allowed'));
    mkdirSync(join(root, 'secret'));
    symlinkSync(join(root, 'secret'), join(root, 'allowed', 'link'));
    const list = { images: ['k'], mounts: [join(root, 'allowed')], env: [] };
    expect(refusal({ image: 'k', mounts: [`${join(root, 'allowed', 'link')}:/d`] }, list)).toMatch(/is not allowed on this worker/);
  });

  it('reads the allow-list from the environment, and records variable names only', () => {
    expect(allowListFromEnv({ MILLRACE_ALLOW_IMAGES: 'a, b', MILLRACE_ALLOW_ENV: 'X' })).toEqual({ images: ['a', 'b'], mounts: [], env: ['X'] });
    expect(recordedPlacement({ image: 'k', env: { B: 'secret', A: 'x' } })).toEqual({ image: 'k', env_names: ['A', 'B'] });
  });

  it('pools container kernels by their whole shape, whatever the order of the variables', () => {
    const shape = { image: 'kernel:1', cpus: 1, memory: '512m', env: { A: '1', B: '2' }, mounts: ['/srv/data:/data:ro'] };
    expect(poolKey('python3')).toBe('python3');
    expect(poolKey('python3', { ...shape, env: { B: '2', A: '1' } })).toBe(poolKey('python3', shape));
    const others: Array<Partial<KernelPlacement>> = [{ image: 'kernel:2' }, { cpus: 2 }, { memory: '1g' }, { env: { A: '1', B: '3' } }, { env: { A: '1' } }, { mounts: [] }];
    for (const other of others) {
      expect(poolKey('python3', { ...shape, ...other })).not.toBe(poolKey('python3', shape));
    }
    expect(poolKey('other', shape)).not.toBe(poolKey('python3', shape));
    expect(poolKey('python3', { image: 'kernel:1' })).not.toBe('python3');
  });

  it("takes --env NAME as the worker's own value: checked on the worker, resolved there, recorded by name", () => {
    expect(parseEnvAssignment('TOKEN')).toEqual(['TOKEN', undefined]);
    const warnings: string[] = [];
    const placement = placementArgs({ image: 'k', env: ['REGION=eu', 'DB_PASSWORD', 'REGION=us', 'API_TOKEN=abc'] }, (line) => warnings.push(line));
    expect(placement).toEqual({ image: 'k', env: { REGION: 'us', API_TOKEN: 'abc' }, workerEnv: ['DB_PASSWORD'] });
    // A value for a name that looks secret is warned of (it enters history); the others are not.
    expect(warnings).toEqual([
      "--env API_TOKEN=...: the value is kept in the run's workflow input and history; pass a secret as --env API_TOKEN (the worker's own value of API_TOKEN)",
    ]);
    expect(['AWS_SECRET_ACCESS_KEY', 'PGPASSWORD', 'GITHUB_TOKEN', 'SSH_KEY', 'OPENAI_API_KEY'].every(looksSecret)).toBe(true);
    expect(['REGION', 'KEYBOARD', 'MONKEY_BUSINESS'].some(looksSecret)).toBe(false);
    // The command line's form of a name wins over the notebook's, whichever it is.
    expect(mergePlacement({ workerEnv: ['A'], env: { C: 'cli' } }, { image: 'k', env: { A: 'nb', B: 'nb' }, worker_env: ['C', 'D'] })).toEqual({
      image: 'k',
      env: { B: 'nb', C: 'cli' },
      workerEnv: ['A', 'D'],
    });
    const allowing = { images: ['k'], mounts: [], env: ['DB_PASSWORD'] };
    expect(refusal({ image: 'k', workerEnv: ['OTHER'] }, allowing, { OTHER: 'x' })).toMatch(/^environment variable "OTHER" is not allowed/);
    expect(refusal({ image: 'k', workerEnv: ['DB_PASSWORD'] }, allowing, {})).toBe(
      `environment variable "DB_PASSWORD" is not set on this worker (--env DB_PASSWORD gives the kernel the worker's own value)`,
    );
    expect(refusal({ image: 'k', workerEnv: ['DB_PASSWORD'] }, allowing, { DB_PASSWORD: 'x' })).toBeUndefined();
    expect(recordedPlacement({ image: 'k', env: { B: 'x' }, workerEnv: ['A'] })).toEqual({ image: 'k', env_names: ['A', 'B'] });
    expect(withWorkerEnv({ image: 'k', env: { B: 'x' }, workerEnv: ['A'] }, { A: 'secret' })).toEqual({ placement: { image: 'k', env: { B: 'x', A: 'secret' } } });
    expect(withWorkerEnv({ image: 'k', workerEnv: ['A'] }, {}).missing).toBe('A');
  });

  it("starts a one-shot run's container ahead only with the placement the worker will run: merged, allowed, its own values", () => {
    const env = { GREETING: 'from the worker' };
    // The command line over the notebook, the worker's value of --env NAME.
    expect(placementAhead({ image: 'kernel:1', workerEnv: ['GREETING'] }, { cpus: 1 }, allow, env)).toEqual({ placement: { image: 'kernel:1', cpus: 1, env: { GREETING: 'from the worker' } } });
    expect(placementAhead(undefined, { image: 'kernel:1' }, allow, env)).toEqual({ placement: { image: 'kernel:1' } });
    expect(placementAhead(undefined, undefined, allow, env)).toEqual({});
    // Whatever prepareRun refuses starts nothing: an image, a variable, a mount, an unset value, bad metadata.
    expect(placementAhead({ image: 'python:3.12' }, undefined, allow, env)).toBe('refused');
    expect(placementAhead({ image: 'kernel:1', env: { SECRET: 'x' } }, undefined, allow, env)).toBe('refused');
    expect(placementAhead({ image: 'kernel:1', mounts: ['/etc:/etc'] }, undefined, allow, env)).toBe('refused');
    expect(placementAhead({ image: 'kernel:1', workerEnv: ['GREETING'] }, undefined, allow, {})).toBe('refused');
    expect(placementAhead(undefined, { cpus: 'two' }, allow, env)).toBe('refused');
  });
});
