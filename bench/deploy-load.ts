/**
 * Load on a real Temporal cluster (issue 17): N runs of a 20-cell notebook of trivial
 * cells, submitted at once to two `millrace worker` processes on one task queue, against
 * the Temporal server on PostgreSQL (bench/temporal-cluster.ts), one Jupyter Server for
 * both workers and the store on S3 (versitygw). Workers of one queue must share their
 * Jupyter Server: a run's cells go to whichever worker polls, and its kernel lives on one
 * server (with a server per worker, 1 run in 200 here kept asking the other server for
 * its kernel). 200 kernels on one server need worker/jupyter_server_config.py's raised
 * open-file and ZeroMQ socket limits: see docs/deploy.md. For each N: makespan (first submit to last result), runs
 * per minute, growth of the Temporal databases, and history per run.
 *
 *   scripts/setup-cluster.sh && npm run build
 *   node dist/bench/deploy-load.js [--runs 20,200] [--cells 20] [--out DIR]
 *
 * Results: deploy-load.json and deploy-load.md in bench/results/ (or --out DIR).
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../cli/config.js';
import { buildRunInput } from '../cli/submit.js';
import { startJupyterServer } from '../worker/jupyter-server.js';
import { packageRoot } from '../worker/paths.js';
import { startS3Server } from '../worker/s3-server.js';
import { historySize } from './history.js';
import { startTemporalCluster } from './temporal-cluster.js';
import { startWorkerProcess } from './worker-process.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '20,200' }, cells: { type: 'string', default: '20' }, out: { type: 'string' } },
});
const sizes = values.runs.split(',').map(Number);
const cells = Number(values.cells);
const outDir = resolve(values.out ?? join(packageRoot(), 'bench', 'results'));

interface Row {
  runs: number;
  cells: number;
  makespanS: number;
  runsPerMinute: number;
  /** Growth of the temporal + temporal_visibility databases during the section. */
  dbGrowthBytes: number;
  dbBytesAfter: number;
  historyEventsPerRun: number;
  historyBytesPerRun: number | null;
  completed: number;
}

const dir = await mkdtemp(join(tmpdir(), 'millrace-load-'));
const cluster = await startTemporalCluster();
const jupyter = await startJupyterServer({ stateDir: join(dir, 'jupyter') });
const s3 = await startS3Server({ stateDir: join(dir, 's3') });
const workers: ChildProcess[] = [];
const connection = await Connection.connect({ address: cluster.address });
try {
  Object.assign(process.env, s3.clientEnv(), { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  const s3Client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: s3.root.accessKey, secretAccessKey: s3.root.secretKey } });
  await s3Client.send(new CreateBucketCommand({ Bucket: 'millrace' }));
  s3Client.destroy();
  const taskQueue = 'load';
  const config: Config = { namespace: cluster.namespace, taskQueue, stateDir: join(dir, 'state'), storeRoot: 's3://millrace/store', temporalAddress: cluster.address };
  await mkdir(config.stateDir);
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: cluster.namespace,
    MILLRACE_TASK_QUEUE: taskQueue,
    MILLRACE_STORE: config.storeRoot,
    MILLRACE_HOME: config.stateDir,
    MILLRACE_JUPYTER_URL: jupyter.url,
    MILLRACE_JUPYTER_TOKEN: jupyter.token,
  };
  workers.push(await startWorkerProcess(env), await startWorkerProcess(env));
  // Each worker's log, kept with the servers' logs when a run fails.
  workers.forEach((w, i) => w.stderr!.pipe(createWriteStream(join(dir, `worker-${i}.log`))));
  const client = new Client({ connection, namespace: cluster.namespace });
  const nbPath = join(dir, 'load.ipynb');
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: Array.from({ length: cells }, (_, i) => ({ cell_type: 'code', id: `c${i}`, metadata: {}, execution_count: null, outputs: [], source: `x = ${i}` })),
  };
  await writeFile(nbPath, JSON.stringify(nb));
  const dbBytes = async () => (await cluster.postgres.databaseSize('temporal')) + (await cluster.postgres.databaseSize('temporal_visibility'));
  const rows: Row[] = [];
  for (const n of sizes) {
    const before = await dbBytes();
    const inputs = await Promise.all(Array.from({ length: n }, () => buildRunInput(config, { notebookPath: nbPath, params: {} })));
    const started = Date.now();
    const handles = await Promise.all(inputs.map((input) => client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] })));
    console.error(`${n} runs submitted in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const results = await Promise.all(handles.map((h) => h.result()));
    const makespanS = (Date.now() - started) / 1000;
    const after = await dbBytes();
    const sample = handles.slice(0, Math.min(10, n));
    const size = historySize(await Promise.all(sample.map((h) => h.fetchHistory())));
    const row: Row = {
      runs: n,
      cells,
      makespanS: Math.round(makespanS * 10) / 10,
      runsPerMinute: Math.round((n / makespanS) * 60 * 10) / 10,
      dbGrowthBytes: after - before,
      dbBytesAfter: after,
      historyEventsPerRun: Math.round(size.events / size.runs),
      historyBytesPerRun: size.protoBytes === null ? null : Math.round(size.protoBytes / size.runs),
      completed: results.filter((r) => r.status === 'completed').length,
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  const md = [
    `# Load on a Temporal cluster (PostgreSQL), two workers, ${cells} trivial cells per run`,
    '',
    `Temporal server start (PostgreSQL initdb, schema, namespace): ${(cluster.startMs / 1000).toFixed(1)} s`,
    '',
    '| runs | completed | makespan (s) | runs/min | DB growth (MB) | DB after (MB) | history events/run | history bytes/run |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.runs} | ${r.completed} | ${r.makespanS} | ${r.runsPerMinute} | ${(r.dbGrowthBytes / 1e6).toFixed(1)} | ${(r.dbBytesAfter / 1e6).toFixed(1)} | ${r.historyEventsPerRun} | ${r.historyBytesPerRun ?? '?'} |`),
    '',
  ].join('\n');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'deploy-load.json'), JSON.stringify({ startMs: cluster.startMs, rows }, null, 1));
  await writeFile(join(outDir, 'deploy-load.md'), md);
  console.log(md);
} catch (err) {
  // Shown before the finally block closes the connection (late retries then throw instead).
  console.error('deploy-load failed:', err);
  process.exitCode = 1;
  // The workers' and servers' logs stay for a look.
  await cp(dir, `${dir}-failed`, { recursive: true }).catch(() => undefined);
  console.error(`logs kept in ${dir}-failed`);
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(undefined) : w.once('exit', r)))));
  await connection.close();
  await jupyter.stop();
  await s3.stop();
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}
