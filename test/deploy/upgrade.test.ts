/**
 * A rolling upgrade on a real Temporal cluster (issue 17; docs/deploy.md, "Upgrading
 * workers"): runs started by a `millrace worker` of today's build are taken over, mid-run,
 * by a worker of the next build, whose workflow change is behind `patched` (the way the
 * Temporal TypeScript docs recommend for changing code that running workflows use:
 * test/deploy/next-build/interceptors.ts). The next build's worker starts first, then the
 * old one gets SIGTERM, as a rolling deployment does. Checked: every run completes, every
 * cell's side effect happens once, the new branch ran in every run (its memo) after the old
 * worker's tasks, and the histories the old build recorded before the change, these runs'
 * and the fixtures of test/e2e/replay.test.ts, replay against the next build's bundle.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../cli/config.js';
import { buildRunInput } from '../../cli/submit.js';
import { int } from '../../notebook/param-value.js';
import { startJupyterServer, type JupyterServer } from '../../worker/jupyter-server.js';
import { packageRoot } from '../../worker/paths.js';
import { createWorker, workflowsSourcePath, type MillraceWorker } from '../../worker/worker.js';
import { startTemporalCluster, type TemporalCluster } from '../../bench/temporal-cluster.js';
import { startWorkerProcess } from '../../bench/worker-process.js';
import { codeCell, exited, notebook, waitFor } from '../e2e/harness.js';
import { NEXT_BUILD_MEMO, NEXT_BUILD_PATCH } from './next-build/interceptors.js';

const RUNS = 3;
// 6 s of cells a run: a worker given SIGTERM finishes the workflow task it holds, and with
// local cells a task runs up to 2 s of them (and then the local shutdown and finalize), so
// each run must outlast that for the next build to take it over.
const CELLS = 12;
// temporal.api.enums.v1.EventType
const MARKER_RECORDED = 25;

type HistoryEvent = NonNullable<History['events']>[number];

/** The patch id a patch marker records (its `patch-data` payload: `{"id": ..., "deprecated": ...}`). */
function patchIdOf(event: HistoryEvent): string | undefined {
  const data = event.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { id?: string }).id : undefined;
}

let cluster: TemporalCluster;
let jupyter: JupyterServer;
let dir: string;
let connection: Connection;
let client: Client;
let oldWorker: ChildProcess | undefined;
let nextWorker: { worker: MillraceWorker; running: Promise<void> } | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'millrace-upgrade-'));
  await mkdir(join(dir, 'state'));
  cluster = await startTemporalCluster();
  jupyter = await startJupyterServer({ stateDir: join(dir, 'jupyter') });
  connection = await Connection.connect({ address: cluster.address });
  client = new Client({ connection, namespace: cluster.namespace });
});

afterAll(async () => {
  if (oldWorker) {
    oldWorker.kill('SIGKILL');
    await exited(oldWorker);
  }
  if (nextWorker) {
    nextWorker.worker.worker.shutdown();
    await nextWorker.running;
  }
  await connection?.close();
  await jupyter?.stop();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('a worker of the next build (a change behind `patched`) takes over running workflows', async () => {
  const taskQueue = 'upgrade';
  const store = join(dir, 'store');
  const side = join(dir, 'side');
  oldWorker = await startWorkerProcess({
    ...process.env,
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    MILLRACE_TASK_QUEUE: taskQueue,
    MILLRACE_STORE: store,
    MILLRACE_HOME: join(dir, 'state'),
    MILLRACE_JUPYTER_URL: jupyter.url,
    MILLRACE_JUPYTER_TOKEN: jupyter.token,
  });
  const nbPath = join(dir, 'upgrade.ipynb');
  await writeFile(
    nbPath,
    JSON.stringify(
      notebook([
        codeCell('run_no = 0', ['parameters']),
        ...Array.from({ length: CELLS }, (_, i) => codeCell(`import time\ntime.sleep(0.5)\nopen(${JSON.stringify(side)}, "a").write(f"{run_no} ${i}\\n")`)),
      ]),
    ),
  );
  const config: Config = { namespace: cluster.namespace, taskQueue, stateDir: join(dir, 'state'), storeRoot: store, temporalAddress: cluster.address };
  const handles: WorkflowHandle[] = [];
  for (let i = 0; i < RUNS; i++) {
    const input = await buildRunInput(config, { notebookPath: nbPath, params: { run_no: int(i) } });
    handles.push(await client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] }));
  }
  const sideLines = async () => (await readFile(side, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  // Every run has had cells run by the old build.
  await waitFor('cells of every run on the old build', async () => {
    const lines = await sideLines();
    return Array.from({ length: RUNS }, (_, r) => lines.some((l) => l.startsWith(`${r} `))).every(Boolean) ? true : undefined;
  }, 120_000);
  const recordedBefore = await Promise.all(handles.map((h) => h.fetchHistory()));

  // The next build: today's workflows and the patched change, bundled as a release would be.
  const { code } = await bundleWorkflowCode({
    workflowsPath: workflowsSourcePath(),
    workflowInterceptorModules: [join(packageRoot(), 'test', 'deploy', 'next-build', 'interceptors.ts')],
    logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error },
  });
  const nextBundle = join(dir, 'next-workflow-bundle.js');
  await writeFile(nextBundle, code);
  const worker = await createWorker({
    temporalAddress: cluster.address,
    namespace: cluster.namespace,
    taskQueue,
    jupyter: { url: jupyter.url, token: jupyter.token },
    orphanReaper: false,
    workflowBundlePath: nextBundle,
  });
  nextWorker = { worker, running: worker.run() };
  // Rolling: the new worker polls, then the old one drains and exits.
  oldWorker.kill('SIGTERM');
  await exited(oldWorker);
  const oldIdentity = `${oldWorker.pid}@`;
  oldWorker = undefined;

  const results = await Promise.all(handles.map((h) => h.result()));
  expect(results.map((r) => r.status)).toEqual(Array(RUNS).fill('completed'));
  const expected = Array.from({ length: RUNS }, (_, r) => Array.from({ length: CELLS }, (_, c) => `${r} ${c}`)).flat().sort();
  expect((await sideLines()).sort()).toEqual(expected);

  for (const h of handles) {
    expect((await h.describe()).memo?.[NEXT_BUILD_MEMO], `the next build's branch in ${h.workflowId}`).toBe('next');
    // The patch marker comes after workflow tasks the old build completed.
    const events = (await h.fetchHistory()).events ?? [];
    const marker = events.findIndex((e) => Number(e.eventType) === MARKER_RECORDED && patchIdOf(e) === NEXT_BUILD_PATCH);
    expect(marker, `a ${NEXT_BUILD_PATCH} marker in ${h.workflowId}`).toBeGreaterThan(0);
    const byOld = events.slice(0, marker).filter((e) => e.workflowTaskCompletedEventAttributes?.identity?.startsWith(oldIdentity));
    expect(byOld.length).toBeGreaterThan(0);
  }

  // Histories recorded before the change replay against the next build.
  const fixtures = join(packageRoot(), 'test', 'fixtures', 'histories');
  const recorded: Array<{ workflowId: string; history: History }> = recordedBefore.map((history, i) => ({ workflowId: handles[i]!.workflowId, history }));
  for (const file of (await readdir(fixtures)).filter((f) => f.endsWith('.json'))) {
    recorded.push({ workflowId: file, history: historyFromJSON(JSON.parse(await readFile(join(fixtures, file), 'utf8'))) });
  }
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code } }, recorded)) {
    if (result.error) failures.push(`${result.workflowId}: ${String(result.error)}`);
  }
  expect(failures).toEqual([]);
  // The six fixtures: slice-timer, pause-repair, pause-abort, kernel-restart, write-behind-local-cells, baseline-takeover.
  expect(recorded.length).toBe(RUNS + 6);
}, 300_000);
