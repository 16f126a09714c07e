/**
 * --image, --cpus, --memory, --env NAME[=VALUE] and --mount SRC:DST[:ro]: where a run's kernel
 * runs (activities/kernel-placement.ts). Checked for form here; whether the worker allows
 * them is the worker's decision, before the run starts.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { looksSecret, parseEnvAssignment, parseMount } from '../notebook/placement-syntax.js';
import type { KernelPlacement } from '../workflows/contracts.js';

function collect(parse: (value: string) => void) {
  return (value: string, previous: string[] = []) => {
    try {
      parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    return [...previous, value];
  };
}

function cpus(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`--cpus ${value}: expected a positive number`);
  return n;
}

export function addPlacementOptions(command: Command): Command {
  return command
    .option('--image <image>', "run the kernel in a container of this image (podman; the worker must allow it: --allow-image)")
    .option('--cpus <n>', "the kernel container's CPU limit (e.g. 0.5, 2)", cpus)
    .option('--memory <size>', "the kernel container's memory limit (e.g. 512m, 2g)")
    .option('--env <NAME[=VALUE]>', "a variable in the kernel container (the worker must allow NAME: --allow-env); NAME alone: the worker's own value, kept out of the run's history (for secrets); repeatable", collect(parseEnvAssignment))
    .option('--mount <SRC:DST[:ro]>', 'a host folder in the kernel container (the worker must allow SRC: --allow-mount); repeatable', collect(parseMount));
}

/**
 * The placement the options ask for, or undefined when none was given. A later --env of a
 * name replaces an earlier one. A value given for a name that looks like a secret is
 * warned of (`warn`, stderr): it is kept in the run's workflow input, so in its history.
 */
export function placementArgs(
  opts: { image?: string; cpus?: number; memory?: string; env?: string[]; mount?: string[] },
  warn: (line: string) => void = (line) => void process.stderr.write(`millrace: warning: ${line}\n`),
): KernelPlacement | undefined {
  const env = new Map<string, string | undefined>();
  for (const spec of opts.env ?? []) {
    const [name, value] = parseEnvAssignment(spec);
    env.delete(name);
    env.set(name, value);
  }
  for (const [name, value] of env) {
    if (value !== undefined && looksSecret(name)) {
      warn(`--env ${name}=...: the value is kept in the run's workflow input and history; pass a secret as --env ${name} (the worker's own value of ${name})`);
    }
  }
  const values = [...env].filter((e): e is [string, string] => e[1] !== undefined);
  const fromWorker = [...env].filter(([, value]) => value === undefined).map(([name]) => name);
  const placement: KernelPlacement = {
    ...(opts.image ? { image: opts.image } : {}),
    ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
    ...(opts.memory ? { memory: opts.memory } : {}),
    ...(values.length ? { env: Object.fromEntries(values) } : {}),
    ...(fromWorker.length ? { workerEnv: fromWorker } : {}),
    ...(opts.mount?.length ? { mounts: opts.mount } : {}),
  };
  return Object.keys(placement).length ? placement : undefined;
}

/** `--allow-image/--allow-mount/--allow-env` of `worker` and `dev`: what runs may choose. */
export function addAllowOptions(command: Command): Command {
  const list = (value: string, previous: string[] = []) => [...previous, value];
  return command
    .option('--allow-image <image>', 'an image runs may choose with --image; repeatable (also MILLRACE_ALLOW_IMAGES, comma-separated)', list)
    .option('--allow-mount <path>', 'a host folder runs may mount (or a folder inside it); repeatable (also MILLRACE_ALLOW_MOUNTS)', list)
    .option('--allow-env <name>', 'a variable runs may set in their kernel container; repeatable (also MILLRACE_ALLOW_ENV)', list);
}

export function allowArgs(opts: { allowImage?: string[]; allowMount?: string[]; allowEnv?: string[] }) {
  return { images: opts.allowImage ?? [], mounts: opts.allowMount ?? [], env: opts.allowEnv ?? [] };
}
