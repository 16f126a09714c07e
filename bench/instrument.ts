/**
 * The benchmark's view from inside the worker: an activity interceptor layered onto the
 * options the product's createWorker (worker/worker.ts) passes to Worker.create, so the
 * benchmark measures exactly the product's configuration. It records where each
 * executeCell execution starts and ends in the worker, local activities included (their
 * history marker carries no real end time), and lets experiments add one change.
 */
import type { Context } from '@temporalio/activity';
import { Worker, type WorkerOptions } from '@temporalio/worker';

/** One executeCell execution as the worker ran it (epoch ms, sub-ms, same clock as the server's events). */
export interface CellExecution {
  cellIndex: number;
  /** A local activity (else a regular one: a non-Python kernel, or a handed-off cell's continuation). */
  local: boolean;
  start: number;
  end: number;
  /** The result's status: `running` when a local activity handed the cell off. */
  status?: string;
}

/**
 * performance.timeOrigin + performance.now() (sub-ms) drifts from the wall clock that the
 * server, the kernel and papermill's timestamps use by up to a millisecond or so: this is
 * the correction, measured at the instant Date.now() ticks (the largest of a few tries:
 * a late observation only lowers it).
 */
let wallOffset = 0;

function calibrate(): void {
  let best = -Infinity;
  for (let i = 0; i < 5; i++) {
    const d0 = Date.now();
    let d = d0;
    let p = 0;
    while (d === d0) {
      p = performance.now();
      d = Date.now();
    }
    best = Math.max(best, d - (performance.timeOrigin + p));
  }
  wallOffset = best;
}

/** Epoch ms with sub-ms resolution, comparable with the server's event times (same host clock). */
export const nowMs = (): number => performance.timeOrigin + performance.now() + wallOffset;

const executions = new Map<string, CellExecution[]>();

/** The executeCell executions of one run (by workflow id), forgotten once taken. */
export function takeCellExecutions(workflowId: string): CellExecution[] {
  const list = executions.get(workflowId) ?? [];
  executions.delete(workflowId);
  // Between runs, off the clock: the next run's times against a fresh correction.
  if (installed) calibrate();
  return list;
}

export interface Instrumentation {
  /** Options merged over the product's worker options. */
  workerOptions?: Partial<WorkerOptions>;
  /** Called as each executeCell starts (before the cell), for CPU snapshots of the cell loop. */
  onCellStart?: () => void;
  /** Another change to each activity's context or result (an experiment's lever). */
  activity?: (ctx: Context, activityType: string, result: unknown) => unknown;
  /** Called once per activity context before it runs (e.g. to wrap its heartbeat). */
  context?: (ctx: Context) => void;
}

let installed: Instrumentation | undefined;

/**
 * Wraps Worker.create (once per process) so every worker created after this records its
 * executeCell executions; an experiment passes its one change with it.
 */
export function instrumentWorkers(instrumentation: Instrumentation = {}): void {
  if (installed) {
    installed = instrumentation;
    return;
  }
  installed = instrumentation;
  calibrate();
  const interceptor = (ctx: Context) => {
    installed?.context?.(ctx);
    return {
      inbound: {
        async execute(input: { args: unknown[] }, next: (input: { args: unknown[] }) => Promise<unknown>) {
          const type = ctx.info.activityType;
          if (type !== 'executeCell') {
            const result = await next(input);
            return installed?.activity ? installed.activity(ctx, type, result) : result;
          }
          const start = nowMs();
          installed?.onCellStart?.();
          let status: string | undefined;
          try {
            const result = await next(input);
            status = (result as { status?: string } | undefined)?.status;
            return result;
          } finally {
            const workflowId = ctx.info.workflowExecution?.workflowId ?? '';
            const list = executions.get(workflowId) ?? [];
            executions.set(workflowId, list);
            list.push({ cellIndex: (input.args[0] as { cellIndex: number }).cellIndex, local: ctx.info.isLocal, start, end: nowMs(), status });
          }
        },
      },
    };
  };
  const create = Worker.create.bind(Worker);
  Worker.create = (options: WorkerOptions) =>
    create({
      ...options,
      ...(installed?.workerOptions ?? {}),
      interceptors: { ...options.interceptors, activity: [...(options.interceptors?.activity ?? []), interceptor as never] },
    });
}
