/**
 * @jupyterlab/services in a millrace process (a worker, or a one-shot `run` that starts its
 * kernel before its worker): quiet on stdout, which `--json` owns, and one stray rejection
 * of its own ignored. Installed once per process, before the first kernel connection.
 */
let installed = false;

export function quietJupyterServices(): void {
  if (installed) return;
  installed = true;
  // @jupyterlab/services reconnects after a kernel restarts without handling the promise
  // (kernel/default.ts); when millrace has shut that kernel down meanwhile, it rejects
  // with nobody to tell. Any other unhandled rejection still ends the process.
  process.on('unhandledRejection', (reason) => {
    if (reason instanceof Error && reason.message === 'Kernel connection disconnected') return;
    throw reason;
  });
  // @jupyterlab/services narrates every websocket (re)connection on console.debug.
  if (!process.env['MILLRACE_DEBUG']) console.debug = () => undefined;
}
