/**
 * `millrace worker` in a process of its own, so tests and benchmarks can kill it: the
 * end-to-end harness (against the shared dev stack) and the deployment tests and load
 * benchmark (against a Temporal cluster) differ only in the environment they give it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../worker/paths.js';

/** Starts `millrace worker --kernel-pool 0` with `env` (the settings a user gives it); resolves once it polls. */
export function startWorkerProcess(env: NodeJS.ProcessEnv, args: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'millrace.js'), 'worker', '--kernel-pool', '0', ...args], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
      if (stderr.includes('worker polling')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker exited early (${code}): ${stderr}`)));
  });
}
