/**
 * Defaults of the workflow contract (re-exported by contracts.ts) that option declarations
 * show in --help. No imports: every command, `--version` included, loads this module.
 */

/** Idle kernels a long-running worker (`millrace worker`, `millrace dev`) keeps started, so runs do not wait for one. */
export const KERNEL_POOL_DEFAULT = 1;

/** Scratch code that runs longer is interrupted (default of `millrace exec --timeout`). */
export const SCRATCH_TIMEOUT_S_DEFAULT = 600;
