import { describe, expect, it } from 'vitest';
import { workerSlots } from '../../worker/worker.js';

describe('workerSlots', () => {
  it('leaves the pollers workflow-task slots of their own when every run holds one through its local cells', () => {
    for (const runs of [1, 2, 20, 45, 90, 500]) {
      const slots = workerSlots(runs);
      // One per run, plus the SDK's 10 pollers (as many as the cache allows).
      expect(slots.maxConcurrentWorkflowTaskExecutions).toBe(Math.min(runs + 10, slots.maxCachedWorkflows));
      expect(slots.maxConcurrentWorkflowTaskExecutions).toBeGreaterThan(runs);
      expect(slots.maxConcurrentActivityTaskExecutions).toBe(runs * 2);
    }
  });
});
