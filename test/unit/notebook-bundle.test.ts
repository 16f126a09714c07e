// notebook/ is imported by workflow code, so it must pass Temporal's workflow bundler
// (no Node built-ins, directly or through zod/yaml) and run inside it.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} };

describe('notebook/ in Temporal workflow code', () => {
  it('bundles without disallowed modules', async () => {
    const workflowsPath = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'notebook-workflow.ts');
    const { code } = await bundleWorkflowCode({ workflowsPath, logger: quiet });
    expect(code).toContain('notebookProbe');
  }, 60_000);
});
