/**
 * "The next build" of the workflow code for test/deploy/upgrade.test.ts: today's workflows
 * plus one change behind `patched`, as a release would make one (docs/deploy.md, upgrades).
 * The change issues a command the old code never did (a memo upsert) before the first
 * activity, regular or local (cells, the kernel's shutdown and finalize are local), it
 * schedules: a run started by the old build replays its history here (there `patched` is
 * false: the history has no marker), and takes the new branch from the first activity this
 * build schedules for it. Bundled by the test only, as a workflow
 * interceptor module, so no product code carries it.
 */
import {
  patched,
  upsertMemo,
  type ActivityInput,
  type LocalActivityInput,
  type Next,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

export const NEXT_BUILD_PATCH = 'millrace-test-next-build';
export const NEXT_BUILD_MEMO = 'millraceTestBuild';

class NextBuild implements WorkflowOutboundCallsInterceptor {
  private marked = false;

  private mark(): void {
    if (!this.marked && patched(NEXT_BUILD_PATCH)) {
      this.marked = true;
      upsertMemo({ [NEXT_BUILD_MEMO]: 'next' });
    }
  }

  async scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>): Promise<unknown> {
    this.mark();
    return next(input);
  }

  async scheduleLocalActivity(input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>): Promise<unknown> {
    this.mark();
    return next(input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ outbound: [new NextBuild()] });
