/**
 * The kernel's working directory (`run --cwd`, else where `millrace run` was called from,
 * papermill's rule). Kernels are started by a Jupyter Server in its own root directory,
 * and pooled kernels before their run existed, so the run's directory is entered
 * afterwards, in the kernel itself: the path is resolved where the kernel runs (the
 * worker's machine, or a remote Jupyter Server's), and remote servers and gateways need
 * nothing of their own. A silent execution: no output, history or execution count.
 *
 * Only Python kernels can be told; other kernels stay in the server's root directory.
 */
import type { Kernel } from '@jupyterlab/services';
import { silentExecute } from './execute-request.js';

export class WorkingDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkingDirectoryError';
  }
}

/**
 * Moves the kernel into `cwd`: true once it is there, false when the kernel's language
 * cannot be told (not Python). Throws WorkingDirectoryError when the directory cannot be
 * entered, naming it.
 */
export async function enterWorkingDirectory(kernel: Kernel.IKernelConnection, language: string, cwd: string): Promise<boolean> {
  if (language !== 'python') return false;
  // A JSON string is a Python string literal; nothing is bound in the user's namespace.
  const reply = await silentExecute(kernel, `__import__('os').chdir(${JSON.stringify(cwd)})`, { purpose: 'working-directory' });
  if (reply.status === 'ok') return true;
  const ename = reply.status === 'error' ? reply.ename : reply.status;
  if (ename === 'FileNotFoundError') {
    throw new WorkingDirectoryError(`working directory ${cwd} does not exist (resolved on the worker; choose another with --cwd)`);
  }
  const why = reply.status === 'error' ? `${reply.ename}: ${reply.evalue}` : `the kernel answered ${reply.status}`;
  throw new WorkingDirectoryError(`working directory ${cwd} cannot be entered (resolved on the worker): ${why}`);
}
