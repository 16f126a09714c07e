/**
 * The kernel's working directory (`run --cwd`, else where `millrace run` was called from,
 * papermill's rule). Kernels are started by a Jupyter Server in its own root directory,
 * and pooled kernels before their run existed, so the run's directory is entered
 * afterwards, in the kernel itself: the path is resolved where the kernel runs (the
 * worker's machine, or a remote Jupyter Server's), and remote servers and gateways need
 * nothing of their own. It is the code of a silent execution (no output, history or
 * execution count) that also asks for the kernel's environment (kernel-environment.ts).
 *
 * Only Python kernels can be told; other kernels stay in the server's root directory.
 */
import type { ExecuteReply } from './execute-request.js';

export class WorkingDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkingDirectoryError';
  }
}

/** Python that enters `cwd`: a JSON string is a Python string literal, and nothing is bound in the user's namespace. */
export function enterDirectoryCode(cwd: string): string {
  return `__import__('os').chdir(${JSON.stringify(cwd)})`;
}

/** Why a kernel that ran enterDirectoryCode did not get there, naming the directory. */
export function workingDirectoryError(cwd: string, reply: ExecuteReply): WorkingDirectoryError {
  const ename = reply.status === 'error' ? reply.ename : reply.status;
  if (ename === 'FileNotFoundError') {
    return new WorkingDirectoryError(`working directory ${cwd} does not exist (resolved on the worker; choose another with --cwd)`);
  }
  const why = reply.status === 'error' ? `${reply.ename}: ${reply.evalue}` : `the kernel answered ${reply.status}`;
  return new WorkingDirectoryError(`working directory ${cwd} cannot be entered (resolved on the worker): ${why}`);
}
