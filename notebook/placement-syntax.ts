/**
 * The syntax of `--mount SRC:DST[:ro]` and `--env NAME=VALUE` (activities/kernel-placement.ts
 * decides what a worker allows), and the one line that shows a recorded placement. Here,
 * free of zod and node:fs, because the CLI checks the form while declaring its options,
 * and `--help` must load nothing heavy (cli/main.ts).
 */
export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** `SRC:DST[:ro]`, both absolute (POSIX paths: the worker and the container are Linux). */
export function parseMount(spec: string): Mount {
  const parts = spec.split(':');
  const [source, target, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || !source || !target || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw new Error(`--mount ${spec}: expected SRC:DST or SRC:DST:ro`);
  }
  if (!source.startsWith('/') || !target.startsWith('/')) throw new Error(`--mount ${spec}: both paths must be absolute`);
  return { source, target, readOnly: mode === 'ro' };
}

/** `NAME=VALUE` of --env, or `NAME` alone: the worker's own value (undefined here). */
export function parseEnvAssignment(spec: string): [string, string | undefined] {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/s.exec(spec);
  if (!match) throw new Error(`--env ${spec}: expected NAME=VALUE, or NAME for the worker's own value`);
  return [match[1]!, match[2]];
}

/** Names that usually hold a secret: their value on the command line would enter the run's history. */
export function looksSecret(name: string): boolean {
  return /SECRET|PASSW(OR)?D|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|(^|_)KEY$/i.test(name);
}


/**
 * `IMAGE, 0.5 CPUs, 256m, env A B, mount SRC:DST:ro`: where a container kernel ran, from the
 * record's metadata.millrace.kernel (variable names only: the record has no values), as
 * `show`, the inspector and the viewer show it; undefined for a process kernel.
 */
export function describePlacement(kernel: Record<string, unknown> | null | undefined): string | undefined {
  if (typeof kernel?.['image'] !== 'string') return undefined;
  const parts = [kernel['image']];
  if (typeof kernel['cpus'] === 'number') parts.push(`${kernel['cpus']} CPUs`);
  if (typeof kernel['memory'] === 'string') parts.push(kernel['memory']);
  const names = Array.isArray(kernel['env_names']) ? kernel['env_names'] : [];
  if (names.length) parts.push(`env ${names.join(' ')}`);
  for (const mount of Array.isArray(kernel['mounts']) ? kernel['mounts'] : []) parts.push(`mount ${String(mount)}`);
  return parts.join(', ');
}
