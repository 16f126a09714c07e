/**
 * The History screen's timeline (cli/inspect/history.ts) from the recorded history of a
 * real run (test/unit/fixtures/inspect-history.json, recorded from the e2e stack): a run
 * with --on-kernel-loss restart and --on-failure pause whose first worker was SIGKILLed
 * while cell 1 ran and whose kernel was deleted; a second worker took over, restarted the
 * kernel and replayed cell 0; cell 2 failed and paused; a retry failed again; a skip let
 * the run complete.
 */
import { readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, expect, it } from 'vitest';
import { CLOSING_EVENTS, historyTimeline } from '../../cli/inspect/history.js';

const history = historyFromJSON(JSON.parse(readFileSync(new URL('./fixtures/inspect-history.json', import.meta.url), 'utf8')));
const rows = historyTimeline(history);
const whats = rows.map((r) => r.what);
const index = (pattern: RegExp) => whats.findIndex((w) => pattern.test(w));

describe('history timeline', () => {
  it('tells the run\'s story in order: start, kernel, the lost worker, the hand-off, the kernel restart and replay', () => {
    const order = [
      /^run started on task queue history-/,
      /^record prepared: done/,
      /^kernel start: done in \d+\.\ds$/,
      /^workflow task timed out on 11842@vm \(worker gone\?\)$/,
      /^handed over to another worker \(was 11842@vm\)$/,
      /^cell \(local\): failed: kernel lost at cell 1: kernel \S+ no longer exists on the Jupyter Server \(restarted\?\)$/,
      /^kernel restart: done/,
      /^earlier cells replayed in a new kernel: done/,
      /^paused at cell 2: ZeroDivisionError: division by zero; waiting for a repair$/,
      /^repair asked: retry$/,
      /^retry of cell 2 prepared: done/,
      /^retry: cell 2 failed again: ZeroDivisionError: division by zero$/,
      /^repair asked: skip$/,
      /^cell 2 skipped: done/,
      /^skip: cell 2 skipped$/,
      /^record finalized: done/,
      /^run completed$/,
    ];
    const at = order.map((p) => index(p));
    expect(at.every((i) => i >= 0), whats.join('\n')).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('names the worker of each step: the first until it was lost, the second after; repairs by who asked', () => {
    const worker = (p: RegExp) => rows[index(p)]!.worker;
    expect(worker(/^kernel start/)).toBe('11842@vm');
    expect(worker(/^handed over/)).toBe('12097@vm');
    expect(worker(/^kernel restart/)).toBe('12097@vm');
    expect(worker(/^repair asked: retry/)).toBe('11795@vm');
    expect(rows.filter((r) => /^run started/.test(r.what))).toHaveLength(1);
  });

  it('colours failures red, hand-offs, restarts and pauses yellow, and shows cells run locally by their execution count', () => {
    expect(rows[index(/kernel lost at cell 1/)]!.tone).toBe('error');
    expect(rows[index(/^handed over/)]!.tone).toBe('warn');
    expect(rows[index(/^kernel restart/)]!.tone).toBe('warn');
    expect(rows[index(/^paused at cell 2/)]!.tone).toBe('warn');
    expect(rows[index(/^run completed/)]!.tone).toBe('ok');
    expect(whats).toContain('cell In [3] (local): error in 0.1s');
    // Plumbing (the no-op that ends a workflow task, output excerpts) is left out.
    expect(whats.some((w) => /sliceWorkflowTask|cellOutputExcerpt/.test(w))).toBe(false);
  });

  it('leaves out the local activity that waits for write-behind record saves (recordSaved)', () => {
    const copy = historyFromJSON(JSON.parse(readFileSync(new URL('./fixtures/inspect-history.json', import.meta.url), 'utf8')));
    const marker = copy.events!.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')!;
    const payload = marker.markerRecordedEventAttributes!.details!['data']!.payloads![0]!;
    const data = JSON.parse(Buffer.from(payload.data!).toString('utf8')) as object;
    payload.data = Buffer.from(JSON.stringify({ ...data, activity_type: 'recordSaved' }));
    const saved = historyTimeline(copy).map((r) => r.what);
    expect(saved).toHaveLength(whats.length - 1);
    expect(saved.some((w) => /record ?saved/i.test(w))).toBe(false);
  });

  it('leaves out a cell started ahead that was not sent (pipelined cells): it ran later, or not at all', () => {
    const copy = historyFromJSON(JSON.parse(readFileSync(new URL('./fixtures/inspect-history.json', import.meta.url), 'utf8')));
    const decoded = (p: { data?: Uint8Array | null }) => JSON.parse(Buffer.from(p.data!).toString('utf8')) as Record<string, unknown>;
    const cell = copy.events!.find((e) => {
      const a = e.markerRecordedEventAttributes;
      return a?.markerName === 'core_local_activity' && decoded(a.details!['data']!.payloads![0]!)['activity_type'] === 'executeCell' && a.details!['result'];
    })!;
    const result = cell.markerRecordedEventAttributes!.details!['result']!.payloads![0]!;
    const before = historyTimeline(copy).length;
    result.data = Buffer.from(JSON.stringify({ ...decoded(result), status: 'not-sent', executionCount: null }));
    const after = historyTimeline(copy).map((r) => r.what);
    expect(after).toHaveLength(before - 1);
    expect(after.some((w) => /not-sent/.test(w))).toBe(false);
  });

  it('knows the events that close an execution', () => {
    const last = Number(history.events![history.events!.length - 1]!.eventType);
    expect(CLOSING_EVENTS.has(last)).toBe(true);
    expect(CLOSING_EVENTS.has(Number(history.events![0]!.eventType))).toBe(false);
  });
});
