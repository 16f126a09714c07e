import { describe, expect, it } from 'vitest';
import { workerSlots } from '../../worker/worker.js';

describe('workerSlots', () => {
  it('leaves the pollers workflow-task slots of their own when every run holds one through its local cells', () => {
    for (const runs of [1, 2, 20, 45, 100, 500]) {
      const slots = workerSlots(runs);
      // One per run in flight (up to twice the runs: the activity slots), plus the SDK's 10 pollers.
      expect(slots.maxConcurrentWorkflowTaskExecutions).toBeGreaterThanOrEqual(Math.min(runs * 2 + 10, slots.maxCachedWorkflows));
      expect(slots.maxConcurrentWorkflowTaskExecutions).toBeGreaterThan(runs);
      // More would be cut down to the cache's size by the SDK, with a warning.
      expect(slots.maxConcurrentWorkflowTaskExecutions).toBeLessThanOrEqual(slots.maxCachedWorkflows);
      expect(slots.maxConcurrentActivityTaskExecutions).toBe(runs * 2);
    }
  });
});
