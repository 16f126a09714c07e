/**
 * Bundles the workflow code once at build time, so starting a worker (and the embedded
 * stack of `millrace run`) does not pay for webpack on every start.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { workflowBundlePath, workflowsSourcePath } from './worker.js';

const { code } = await bundleWorkflowCode({ workflowsPath: workflowsSourcePath(), logger: quietLogger() });
await writeFile(workflowBundlePath(), code);

function quietLogger() {
  const noop = () => undefined;
  return { log: noop, trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error };
}
