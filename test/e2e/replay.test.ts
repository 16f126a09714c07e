/**
 * Runs in flight survive a worker upgrade: workflow histories recorded by earlier workflow
 * code replay against the current bundle (dist/workflow-bundle.js) without nondeterminism.
 *
 * test/fixtures/histories/slice-timer.json was recorded from the code before slices became
 * an activity (commit 8cc14d3): a notebook of a parameters cell and 40 cells of 50 ms, run
 * as local activities, whose workflow tasks were ended by 1 ms timers (two of them). It
 * came from that commit's dist/ (startStack, createWorker, buildRunInput, as bench/millrace.ts
 * does), `handle.fetchHistory()`, and protojson's toJson of the History (historyToJSON's form).
 * Removing the `patched('slice-with-activity')` branch from workflows/notebook-run.ts makes
 * the first test fail with "[TMPRL1100] Nondeterminism error: Activity machine does not
 * handle this event: HistoryEvent(id: 32, TimerStarted)".
 *
 * The pause and restart histories were recorded from commit 000f5b4's dist/ (before the
 * workflow was split into modules and activities reported the revisions they saved), by
 * runs through this harness (startHarness, the workflow started as in pause.test.ts),
 * `handle.fetchHistory()`, and JSON.stringify(JSON.parse(historyToJSON(history)), null, 2):
 * - pause-repair.json, --on-failure pause: cells `x = 41`, `raise ValueError("bad input")`,
 *   `print("after", x)`, `1 / 0`, `print("end")`; paused at cell 1: exec `print(x)`, retry
 *   (fails again), retry with source `y = x + 1\nprint(y)` (passes); paused at cell 3: skip;
 *   the run completes with skippedCells [3].
 * - pause-abort.json, --on-failure pause: cells `x = 1`, `1 / 0`, `print("never")`; paused
 *   at cell 1: exec `x`, then abort; the run fails.
 * - kernel-restart.json, --on-kernel-loss restart: cells `base = 41`, a cell that kills its
 *   kernel (os._exit) the first time it runs and prints `base + 1` the second time, and
 *   `print("after")`; the kernel is replaced, cell 0 replayed, and the run completes.
 * Their activity results have no `revision` (activities did not report it then): replaying
 * them proves the workflow still makes the same commands from such results.
 *
 * write-behind-local-cells.json was recorded from commit b696517's dist/ (before pipelined
 * cells: one local cell at a time) through this harness, as the pause histories were: a
 * parameters cell, 30 cells of 100 ms (a slice after 2 s), a failing cell tagged
 * raises-exception and `print("end")`. Making the pipelined branch unconditional (no
 * `patched('pipelined-local-cells')`) makes its test fail with "[TMPRL1100] Nondeterminism
 * error: Activity type of recorded marker 'recordSaved' does not match activity type of
 * local activity command 'executeCell'": the code starts a cell ahead where the recorded
 * run waited for its record before a slice.
 *
 * baseline-takeover.json is a run that two builds recorded, as in a rolling upgrade: a
 * worker of commit 41d65e7's dist/ (a patch marker per behaviour change) started it, a
 * parameters cell and 120 cells of 50 ms, and was shut down after its first slice; it
 * finished the workflow task it held (up to the second slice), and a worker of the first
 * build with workflows/patches.ts took the run over and finished it. Recorded once by a
 * throwaway test next to this one (createWorker with `workflowBundlePath` for the old
 * worker, then one with the current bundle on the same task queue), saved as the other
 * histories. Its markers: the old build's seven, then the baseline where the new build
 * first asked for a patch live (the third slice). The old build cannot replay it ("[TMPRL1100]
 * Nondeterminism error: Non-deprecated patch marker encountered ..."): it would have asked
 * for `finalize-locally`, which the run never recorded.
 */
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../worker/paths.js';
import { workflowBundlePath } from '../../worker/worker.js';
import { BEHAVIOUR_BASELINE } from '../../workflows/patches.js';
import { codeCell, notebook, startHarness, type Harness } from './harness.js';

// temporal.api.enums.v1.EventType
const ACTIVITY_TASK_SCHEDULED = 10;
const TIMER_STARTED = 17;
const MARKER_RECORDED = 25;
const UPSERT_SEARCH_ATTRIBUTES = 40;
const UPDATE_ACCEPTED = 41;

const SLICE_ACTIVITY = 'sliceWorkflowTask';
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

type HistoryEvent = NonNullable<History['events']>[number];
type Duration = { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null | undefined;

/**
 * A history file's JSON (the form `temporal workflow show --output json` writes) as a
 * History. (historyFromJSON needs one copy of protobufjs 8 for all @temporalio packages:
 * package.json depends on it directly so that npm hoists it above grpc's protobufjs 7.)
 */
function historyFromJson(json: unknown): History {
  const history = historyFromJSON(json);
  if (!history.events?.length) throw new Error('the fixture is not a workflow history');
  return history;
}

function durationMs(duration: Duration): number {
  if (!duration) return NaN;
  const seconds = typeof duration.seconds === 'number' ? duration.seconds : Number(duration.seconds?.toString() ?? 0);
  return seconds * 1000 + (duration.nanos ?? 0) / 1e6;
}

function events(history: History): HistoryEvent[] {
  return history.events ?? [];
}

/** A 1 ms timer: how slices ended before the patch. */
function isSliceTimer(e: HistoryEvent): boolean {
  return e.eventType === TIMER_STARTED && durationMs(e.timerStartedEventAttributes?.startToFireTimeout) === 1;
}

/** The no-op activity that ends slices since the patch. */
function isSliceActivity(e: HistoryEvent): boolean {
  return e.eventType === ACTIVITY_TASK_SCHEDULED && e.activityTaskScheduledEventAttributes?.activityType?.name === SLICE_ACTIVITY;
}

function markers(history: History): string[] {
  return events(history)
    .filter((e) => e.eventType === MARKER_RECORDED)
    .map((e) => e.markerRecordedEventAttributes?.markerName ?? '');
}

/** The ids of the patches a history's workflow code asked for (patched()). */
function patchIds(history: History): string[] {
  return events(history).flatMap((e) => {
    const payload = e.markerRecordedEventAttributes?.markerName === 'core_patch' ? e.markerRecordedEventAttributes.details?.['patch-data']?.payloads?.[0]?.data : undefined;
    return payload ? [(JSON.parse(Buffer.from(payload).toString('utf8')) as { id: string }).id] : [];
  });
}

/** Local cells recorded after the first slice (matching `isSlice`). */
function localCellsAfterFirst(history: History, isSlice: (e: HistoryEvent) => boolean): number {
  const all = events(history);
  const first = all.findIndex(isSlice);
  if (first < 0) return 0;
  return all.slice(first).filter((e) => e.eventType === MARKER_RECORDED && e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER).length;
}

/** Names of the activities a history scheduled, and of the Updates it accepted. */
function activityNames(history: History): string[] {
  return events(history).flatMap((e) => (e.eventType === ACTIVITY_TASK_SCHEDULED ? [e.activityTaskScheduledEventAttributes?.activityType?.name ?? ''] : []));
}

/** The statuses of the local cells a history recorded, in its order. */
function localCellStatuses(history: History): string[] {
  return events(history).flatMap((e) => {
    const attributes = e.markerRecordedEventAttributes;
    const payload = attributes?.markerName === LOCAL_ACTIVITY_MARKER ? attributes.details?.['result']?.payloads?.[0]?.data : undefined;
    // Activities that return nothing record an empty payload.
    if (!payload?.length) return [];
    const result = JSON.parse(Buffer.from(payload).toString('utf8')) as { status?: unknown };
    return typeof result.status === 'string' ? [result.status] : [];
  });
}

function updateNames(history: History): string[] {
  return events(history).flatMap((e) => (e.eventType === UPDATE_ACCEPTED ? [e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ?? ''] : []));
}

async function fixture(name: string): Promise<History> {
  const path = join(packageRoot(), 'test', 'fixtures', 'histories', name);
  return historyFromJson(JSON.parse(await readFile(path, 'utf8')));
}

function replay(history: History): Promise<void> {
  return Worker.runReplayHistory({ workflowBundle: { codePath: workflowBundlePath() } }, history);
}

let h: Harness;
beforeAll(async () => {
  // First: the harness installs the process's Temporal runtime, which replay workers share.
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

describe('workflow replay', () => {
  it('replays a run recorded when slices were 1 ms timers on the current workflow code', async () => {
    const history = await fixture('slice-timer.json');
    // The fixture is what the test needs: slice timers with local cells after them, no slice activity.
    expect(events(history).filter(isSliceTimer).length).toBeGreaterThanOrEqual(1);
    expect(localCellsAfterFirst(history, isSliceTimer)).toBeGreaterThan(0);
    expect(events(history).filter(isSliceActivity)).toEqual([]);
    // Recorded before prepareRun became a local activity (patched 'prepare-locally').
    expect(activityNames(history)[0]).toBe('prepareRun');
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('replays a paused run repaired by exec, retry (failing, then passing) and skip', async () => {
    const history = await fixture('pause-repair.json');
    expect(updateNames(history)).toEqual(['exec', 'retry', 'retry', 'skip']);
    expect(activityNames(history)).toEqual(expect.arrayContaining(['execScratch', 'prepareRetry', 'cellOutputExcerpt', 'skipCell']));
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('replays a paused run ended by abort', async () => {
    const history = await fixture('pause-abort.json');
    expect(updateNames(history)).toEqual(['exec', 'abort']);
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('replays a run whose kernel died and was replaced (--on-kernel-loss restart)', async () => {
    const history = await fixture('kernel-restart.json');
    expect(activityNames(history).filter((name) => name === 'startKernel' || name === 'replayCells')).toEqual(['startKernel', 'startKernel', 'replayCells']);
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('replays a run recorded when local cells ran one at a time (before pipelined cells)', async () => {
    const history = await fixture('write-behind-local-cells.json');
    expect(events(history).filter(isSliceActivity).length).toBeGreaterThanOrEqual(1);
    expect(patchIds(history)).toContain('record-write-behind');
    expect(patchIds(history)).not.toContain('pipelined-local-cells');
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('records slices as activities in a new run, and replays that run too', async () => {
    const cells = [codeCell('delay = 0.0', ['parameters'])];
    for (let i = 0; i < 40; i++) cells.push(codeCell(`import time; time.sleep(delay)\n${i}`));
    const path = await h.writeNotebook('slices.ipynb', notebook(cells));
    // 40 cells of 50 ms: about two seconds of local cells, so at least one slice.
    const run = await h.runNotebook(path, { parameters: [['delay', '0.05']] });
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ status: 'completed', executedCells: 42 });

    const history = await h.client.workflow.getHandle(run.input.runId).fetchHistory();
    expect(events(history).filter(isSliceActivity).length).toBeGreaterThanOrEqual(1);
    expect(localCellsAfterFirst(history, isSliceActivity)).toBeGreaterThan(0);
    expect(events(history).filter(isSliceTimer)).toEqual([]);
    expect(activityNames(history)).not.toContain('prepareRun');
    // One marker stands for every behaviour change (workflows/patches.ts), so this run keeps
    // the slice activity and pipelined cells on replay; Core upserts TemporalChangeVersion once.
    expect(patchIds(history)).toEqual([BEHAVIOUR_BASELINE]);
    expect(events(history).filter((e) => e.eventType === UPSERT_SEARCH_ATTRIBUTES)).toHaveLength(1);
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('replays a run started before the behaviour baseline and finished by a worker with it', async () => {
    const history = await fixture('baseline-takeover.json');
    const ids = patchIds(history);
    // The old build's markers, then the baseline, recorded where the new build first asked live.
    expect(ids.slice(0, -1)).toEqual(expect.arrayContaining(['prepare-locally', 'record-write-behind', 'pipelined-local-cells', 'slice-with-activity']));
    expect(ids.at(-1)).toBe(BEHAVIOUR_BASELINE);
    // After it the run finalized and shut its kernel down locally, with no marker of their own.
    expect(ids).not.toContain('finalize-locally');
    expect(activityNames(history)).not.toContain('finalizeRun');
    expect(activityNames(history)).not.toContain('shutdownKernel');
    await expect(replay(history)).resolves.toBeUndefined();
  });

  it('replays a new run whose cells started ahead ran long and were handed off', async () => {
    // Cells 1 and 3 are started ahead while the cell before them runs, and handed off to a
    // regular activity after 2 s, while the cell after them has been started ahead in turn.
    const long = 'import time; time.sleep(2.2)';
    const path = await h.writeNotebook('handed-off-ahead.ipynb', notebook([codeCell('x = 1'), codeCell(long), codeCell('y = 2'), codeCell(long), codeCell('z = 3')]));
    const run = await h.runNotebook(path);
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ status: 'completed', executedCells: 5 });

    const history = await h.client.workflow.getHandle(run.input.runId).fetchHistory();
    const statuses = localCellStatuses(history);
    expect(statuses.filter((status) => status === 'running')).toHaveLength(2);
    expect(statuses).toContain('not-sent');
    expect(activityNames(history).filter((name) => name === 'executeCell')).toHaveLength(2);
    // Replay hands both local results of a workflow task to the workflow at once, where the
    // run saw them seconds apart: the hand-off must still come after the next cell's start.
    await expect(replay(history)).resolves.toBeUndefined();
  });
});
