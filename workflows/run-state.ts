/**
 * What one execution of notebookRun knows about its run: the progress the query shows,
 * the record revision, the kernel, and how the run is ending. A continue-as-new carries
 * it over (RunContinuation); everything else starts again from the input.
 */
import type {
  CellFailureDetails,
  KernelEnvironment,
  KernelHandle,
  ParsedRunInput,
  PrepareResult,
  RunContinuation,
  RunProgress,
  RunResult,
  SavedRevision,
} from './contracts.js';

export class RunState {
  readonly progress: RunProgress;
  /** Record revision the next activity that saves the record is sent (message ids derive from it). */
  revision: number;
  kernel: KernelHandle | undefined;
  languageInfo: Record<string, unknown> | null;
  /** Which interpreter and kernelspec the kernel is, for the record. */
  kernelEnvironment: KernelEnvironment | undefined;
  executedCells: number;
  /** Kernels replaced under --on-kernel-loss restart. */
  kernelRestarts: number;
  /** Cells skipped while paused (`millrace skip`). */
  readonly skippedCells: number[];
  /** The cell whose activity is in flight, blamed in the record when it fails (e.g. kernel lost). */
  cellInFlight: number | undefined;
  /** The failure the run ends with (a cell's, a pause's end, the run's timeout). */
  failure: CellFailureDetails | undefined;
  stoppedBySysExit = false;
  /** A paused run that nobody repaired in time (fails as PauseExpired). */
  pauseExpired = false;
  /** The run's --timeout ran out (the cells' cancellation scope was cancelled for it). */
  timedOut = false;
  /** The record is final. */
  finalized = false;
  /** The run continued as new: the next execution owns the kernel and the record. */
  handedOver = false;

  constructor(
    private readonly input: ParsedRunInput,
    private readonly carried?: RunContinuation,
  ) {
    this.progress = { runId: input.runId, output: input.output, phase: 'preparing', cells: [] };
    this.revision = carried?.revision ?? 0;
    this.kernel = carried?.kernel;
    this.languageInfo = carried?.languageInfo ?? null;
    this.kernelEnvironment = carried?.kernelEnvironment;
    this.executedCells = carried?.executedCells ?? 0;
    this.kernelRestarts = carried?.kernelRestarts ?? 0;
    this.skippedCells = [...(carried?.skippedCells ?? [])];
  }

  /** The plan's code cells as progress rows: those before `startAt` completed already. */
  showPlan(plan: PrepareResult, startAt: number): void {
    this.progress.cells = plan.codeCells.map((c, position) => ({
      index: c.index,
      summary: c.summary,
      status: position < startAt ? 'completed' : 'pending',
      ...(position < startAt ? { durationMs: this.carried?.durationsMs[position] } : {}),
    }));
  }

  /**
   * Takes the record revision an activity reports it saved. Results recorded before
   * activities reported it have none (histories from before issue 12): a run that was in
   * flight then goes on counting the revisions such an activity is known to save
   * (`saves`) on from the one it was sent, as the workflow used to.
   */
  tookRevision(result: SavedRevision | undefined, saves: number): void {
    this.revision = result?.revision ?? this.revision + saves;
  }

  /** What the next execution picks up from, `position` being the next cell to execute. */
  continuation(plan: PrepareResult, position: number, deadline: number | undefined): RunContinuation {
    return {
      plan,
      position,
      revision: this.revision,
      kernel: this.kernel!,
      languageInfo: this.languageInfo,
      ...(this.kernelEnvironment ? { kernelEnvironment: this.kernelEnvironment } : {}),
      kernelRestarts: this.kernelRestarts,
      executedCells: this.executedCells,
      durationsMs: this.progress.cells.slice(0, position).map((c) => c.durationMs ?? 0),
      deadline,
      skippedCells: this.skippedCells,
    };
  }

  result(): RunResult {
    const { runId, output } = this.input;
    return { runId, status: 'completed', output, executedCells: this.executedCells, stoppedBySysExit: this.stoppedBySysExit, skippedCells: this.skippedCells };
  }
}
