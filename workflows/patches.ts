/**
 * Which of the run workflow's behaviour changes a run uses: Temporal's patching, with one
 * marker per new run instead of one per change.
 *
 * Each change since the first release is guarded by a patch of its own (the `_PATCH`
 * constants beside its code), so that runs recorded before it replay as they ran. For
 * every patch a run asks for, Core records a marker and upserts the TemporalChangeVersion
 * search attribute with the run's whole list so far: seven markers and seven upserts in
 * a new 20-cell run, a quarter of its history events, and a visibility write each on the
 * server. A run started since BEHAVIOUR_BASELINE records that patch alone: it says the run
 * has every change made before it, and `usesPatch` asks Core about no other.
 *
 * Replay stays deterministic both ways. A run recorded before the baseline has no marker
 * of it: while it replays, `patched(BEHAVIOUR_BASELINE)` is false and each patch is asked
 * as it was recorded. When such a run goes on past its history on this code, the baseline
 * is recorded then, at the first question, and holds for every later one; in a replay of
 * that run Core reports the marker from the same workflow task on, so the earlier
 * questions are answered by their own markers again.
 *
 * A change made after the baseline gets a patch of its own, asked with `patched()`
 * directly (PatchBeforeBaseline keeps it out of `usesPatch`): the baseline cannot speak
 * for a change made after runs recorded it.
 */
import { patched } from '@temporalio/workflow';

/** Every patch below was made before it. Never renamed: recorded histories name it. */
export const BEHAVIOUR_BASELINE = 'run-workflow-baseline-1';

/** The patches the baseline stands for: a patch made after it cannot be passed to `usesPatch`. */
export type PatchBeforeBaseline =
  | 'slice-with-activity'
  | 'slice-every-2s'
  | 'scheduled-run-parameters-memo'
  | 'shutdown-kernel-locally'
  | 'finalize-locally'
  | 'prepare-locally'
  | 'record-write-behind'
  | 'pipelined-local-cells'
  | 'notify-failure-memo';

/** Whether this run has the change `patchId` guards (Temporal's `patched`, through the baseline). */
export function usesPatch(patchId: PatchBeforeBaseline): boolean {
  return patched(BEHAVIOUR_BASELINE) || patched(patchId);
}
