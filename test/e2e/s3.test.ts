/**
 * The store on S3, end to end against a real versitygw that this file starts (and stops
 * and restarts, to make S3 flap under a running notebook): MILLRACE_STORE=s3://…, inputs
 * from S3 and from http(s) URLs, --output s3://…, immutability, multipart uploads and
 * streamed reads, listings past 1,000 keys, the faults (unreachable, flapping, denied),
 * credentials kept out of history, logs and notebooks, and record writes that cost
 * O(cells) bytes.
 */
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../record/run-record.js';
import { ObjectExistsError, store } from '../../record/store/index.js';
import { buildRunInput } from '../../cli/submit.js';
import { freePort } from '../../worker/ports.js';
import { startS3Server, type S3Account, type S3Server } from '../../worker/s3-server.js';
import type { RunProgress, RunResult } from '../../workflows/contracts.js';
import { assertValidNotebook, codeCell, notebook, python, runCli, startHarness, streamText, type Harness, type NotebookJson } from './harness.js';

const BUCKET = 'millrace';
const INPUTS = 'inputs';
const STORE = `s3://${BUCKET}/store`;

let h: Harness;
let s3: S3Server;
let root: S3Account;
const outsider: S3Account = { accessKey: `OUTSIDER${randomBytes(4).toString('hex').toUpperCase()}`, secretKey: randomBytes(18).toString('base64url') };
let savedEnv: NodeJS.ProcessEnv;
/** A CLI attached to this file's worker, with the S3 store and root's keys in its environment. */
let cliEnv: NodeJS.ProcessEnv;
let s3StateDir: string;

function rootClient(): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: root.accessKey, secretAccessKey: root.secretKey },
  });
}

async function readJson(location: string): Promise<NotebookJson> {
  return JSON.parse((await store.read(location)).toString('utf8')) as NotebookJson;
}

function cli(args: string[], env: NodeJS.ProcessEnv = cliEnv) {
  return runCli(args, env, h.dir);
}

beforeAll(async () => {
  h = await startHarness();
  s3StateDir = join(h.dir, 's3-state');
  s3 = await startS3Server({ stateDir: s3StateDir, users: [outsider] });
  root = s3.root;
  // The in-process worker reaches S3 as root through the SDK's default chain.
  savedEnv = { ...process.env };
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  Object.assign(process.env, s3.clientEnv());
  const client = rootClient();
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await client.send(new CreateBucketCommand({ Bucket: INPUTS }));
  client.destroy();
  cliEnv = { ...h.cliEnv, ...s3.clientEnv(), MILLRACE_STORE: STORE };
});

afterAll(async () => {
  process.env = savedEnv;
  await s3?.stop();
  await h?.close();
});

const SMALL = notebook([codeCell('x = 2', ['parameters']), codeCell('print("x squared is", x * x)')]);
function smallNotebook(): NotebookJson {
  return SMALL;
}

describe('runs with an S3 store', () => {
  let firstRun: { run_id: string; output: string; status: string };
  let firstStdout = '';
  let firstStderr = '';

  it('reads the notebook from S3, writes the snapshot to the S3 store and the record to --output s3://…', async () => {
    await store.write(`s3://${INPUTS}/team/square.ipynb`, JSON.stringify(smallNotebook()));
    const r = await cli(['run', `s3://${INPUTS}/team/square.ipynb`, '-p', 'x', '7', '--output', `s3://${BUCKET}/out/square-first.ipynb`, '--json']);
    firstStdout = r.stdout;
    firstStderr = r.stderr;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    firstRun = JSON.parse(r.stdout);
    expect(firstRun).toMatchObject({ status: 'completed', output: `s3://${BUCKET}/out/square-first.ipynb` });
    const nb = await readJson(firstRun.output);
    expect(streamText(nb.cells[2]!)).toBe('x squared is 49\n');
    expect(nb.metadata['papermill']['input_path']).toBe(`s3://${INPUTS}/team/square.ipynb`);
    expect(nb.metadata['papermill']['output_path']).toBe(firstRun.output);
    const local = join(h.dir, 'square-first.ipynb');
    await writeFile(local, JSON.stringify(nb));
    await assertValidNotebook(local);
    // Finished: only the notebook is left under out/, its record journal deleted.
    expect(await store.list(`s3://${BUCKET}/out`)).toEqual([firstRun.output]);
    // The snapshot is in the S3 store, by content hash.
    const sources = await store.list(`${STORE}/sources`);
    const sha = createHash('sha256').update(JSON.stringify(smallNotebook())).digest('hex');
    expect(sources).toEqual([`${STORE}/sources/${sha}.ipynb`]);
  });

  it('keeps the keys out of workflow history, CLI output, the server log and the notebook', async () => {
    const history = JSON.stringify(await h.client.workflow.getHandle(firstRun.run_id).fetchHistory(), (key, v) =>
      key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
    );
    expect(history).toContain(`s3://${BUCKET}/out/square-first.ipynb`); // payloads were decoded
    const record = (await store.read(firstRun.output)).toString('utf8');
    const log = readFileSync(s3.logPath, 'utf8');
    for (const [what, text] of Object.entries({ history, record, log, stdout: firstStdout, stderr: firstStderr })) {
      for (const secret of [root.secretKey, root.accessKey]) {
        expect(text.includes(secret), `a key is in the ${what}`).toBe(false);
      }
    }
  });

  it('puts sources and runs under MILLRACE_STORE=s3://… and `millrace show` reads the record there', async () => {
    const path = await h.writeNotebook('square.ipynb', smallNotebook());
    const r = await cli(['run', path, '--json']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.output).toBe(`${STORE}/runs/${out.run_id}/square.ipynb`);
    expect(streamText((await readJson(out.output)).cells.at(-1)!)).toBe('x squared is 4\n');
    const shown = await cli(['show', out.run_id, '--json']);
    expect(shown.code).toBe(0);
    const view = JSON.parse(shown.stdout);
    expect(view.cells.map((c: { status: string }) => c.status)).toEqual(['completed', 'completed']);
    expect(view.record_note).toBeUndefined();
  });

  it("saves a SQL job's -- @output files to the run's folder on S3: the worker writes them, the kernel has no keys", async () => {
    // About 2 MB of Parquet: sent from the kernel in several parts.
    const job = join(h.dir, 'hashes.sql');
    await writeFile(
      job,
      "-- @output out/hashes.parquet\nSELECT i, md5(i::VARCHAR) AS h FROM range(60000) t(i);\n\n-- @output few.csv\nSELECT 1 AS a, 'x,y' AS b;\n",
    );
    const r = await cli(['run', job, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const folder = `${STORE}/runs/${out.run_id}`;
    const parquet = await store.read(`${folder}/out/hashes.parquet`);
    expect(parquet.length).toBeGreaterThan(1024 * 1024);
    const local = join(h.dir, `hashes-${out.run_id}.parquet`);
    await writeFile(local, parquet);
    const read = await python(
      'import duckdb, sys\nprint(duckdb.sql(f"SELECT count(*), count(DISTINCT h), max(i) FROM read_parquet(\'{sys.argv[1]}\') WHERE h = md5(i::VARCHAR)").fetchall())',
      [local],
    );
    expect(read.trim()).toBe("[(60000, 60000, 59999)]");
    expect((await store.read(`${folder}/few.csv`)).toString('utf8')).toBe('"a","b"\n1,"x,y"\n');
    const shown = await cli(['show', out.run_id]);
    expect(shown.stdout).toContain(`saved:    cell 3: ${folder}/out/hashes.parquet (60000 rows, `);
    expect(shown.stdout).toContain(`saved:    cell 4: ${folder}/few.csv (1 row, 16 bytes)`);
    // A statement's cell is summarized by its SQL, not by the magic line.
    expect(shown.stdout).toMatch(/\n3 +code +completed +\S+ +SELECT i, md5\(i::VARCHAR\) AS h FROM range\(60000\) t\(i\);\n/);
  });

  it('accepts an S3 store for schedules: the snapshot goes to S3 and the runs write there', async () => {
    const path = await h.writeNotebook('sched.ipynb', smallNotebook());
    const name = `s3sched${randomBytes(3).toString('hex')}`;
    const created = await cli(['schedule', 'create', name, path, '--every', '1h', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    try {
      const trig = await cli(['schedule', 'trigger', name, '--json']);
      expect(trig.code).toBe(0);
      const runId = JSON.parse(trig.stdout).run_id as string;
      const result = (await h.client.workflow.getHandle(runId).result()) as RunResult;
      expect(result.status).toBe('completed');
      expect(result.output).toBe(`${STORE}/runs/${runId}/sched.ipynb`);
      expect(streamText((await readJson(result.output)).cells.at(-1)!)).toBe('x squared is 4\n');
    } finally {
      await cli(['schedule', 'delete', name]);
    }
  });

  it('never lets a second run overwrite the first one\'s record, and writes a snapshot once', async () => {
    const before = await store.read(firstRun.output);
    const r = await cli(['run', `s3://${INPUTS}/team/square.ipynb`, '--output', firstRun.output]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`is the record of run ${firstRun.run_id}`);
    expect((await store.read(firstRun.output)).equals(before)).toBe(true);
    // Conditional create on S3 itself: If-None-Match: * is answered 412.
    const [source] = await store.list(`${STORE}/sources`);
    await expect(store.write(source!, '{}', { ifAbsent: true })).rejects.toBeInstanceOf(ObjectExistsError);
    await expect(store.write(firstRun.output, '{}', { ifAbsent: true })).rejects.toBeInstanceOf(ObjectExistsError);
    expect((await store.read(firstRun.output)).equals(before)).toBe(true);
  });

  it('reads the notebook from an http URL, keeping its password and query out of the record and history', async () => {
    const body = JSON.stringify(smallNotebook());
    const password = `pw${randomBytes(6).toString('hex')}`;
    const signature = `sig${randomBytes(6).toString('hex')}`;
    const server: Server = createServer((req, res) => {
      const expected = `Basic ${Buffer.from(`reader:${password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return res.writeHead(401).end();
      if (!req.url?.startsWith('/shared/square.ipynb')) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const url = `http://reader:${password}@127.0.0.1:${port}/shared/square.ipynb?signature=${signature}`;
      const r = await cli(['run', url, '-p', 'x', '5', '--json']);
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout);
      expect(out.status).toBe('completed');
      const text = (await store.read(out.output)).toString('utf8');
      expect(streamText(JSON.parse(text).cells[2])).toBe('x squared is 25\n');
      expect(JSON.parse(text).metadata.papermill.input_path).toBe(`http://127.0.0.1:${port}/shared/square.ipynb`);
      const history = JSON.stringify(await h.client.workflow.getHandle(out.run_id).fetchHistory(), (key, v) =>
        key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
      );
      for (const secret of [password, signature]) {
        expect(text.includes(secret)).toBe(false);
        expect(history.includes(secret)).toBe(false);
        expect(r.stdout.includes(secret)).toBe(false);
      }
      // A URL that does not exist, and an http(s) URL as output: one line, exit 2.
      const missing = await cli(['run', `http://reader:${password}@127.0.0.1:${port}/nope.ipynb`]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe(`millrace: http://127.0.0.1:${port}/nope.ipynb: no such notebook\n`);
      const readOnly = await cli(['run', url, '--output', `http://127.0.0.1:${port}/out.ipynb`]);
      expect(readOnly.code).toBe(2);
      expect(readOnly.stderr).toMatch(/^millrace: --output http:\/\/127\.0\.0\.1:\d+\/out\.ipynb: an http\(s\) URL is read-only; .*\n$/);
    } finally {
      server.close();
    }
  });
});

describe('the S3 backend', () => {
  it('uploads a large object in parts, refuses to replace it, and streams it back', async () => {
    const big = randomBytes(21 * 1024 * 1024);
    const location = `s3://${BUCKET}/large/blob.bin`;
    await store.write(location, big, { ifAbsent: true });
    // A multipart upload's ETag is "<md5 of the parts' md5s>-<number of parts>".
    const client = rootClient();
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'large/blob.bin' }));
    client.destroy();
    expect(head.ETag).toMatch(/-3"$/);
    await expect(store.write(location, big, { ifAbsent: true })).rejects.toBeInstanceOf(ObjectExistsError);
    const stream = await store.readStream(location);
    const hash = createHash('sha256');
    let chunks = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      chunks++;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect(await store.stat(location)).toMatchObject({ size: big.length });
  });

  it('lists past 1,000 keys, recursively and one folder level at a time', async () => {
    const prefix = `s3://${BUCKET}/many`;
    const names = Array.from({ length: 1_150 }, (_, i) => `f${String(i).padStart(4, '0')}.json`);
    const folders = Array.from({ length: 1_020 }, (_, i) => `d${String(i).padStart(4, '0')}`);
    const keys = [...names.map((n) => `${prefix}/${n}`), ...folders.map((d) => `${prefix}/${d}/inner.json`)];
    // Through S3 for some, straight into versitygw's directory for the bulk (it serves
    // files placed there as objects): listing them is what is tested, and fast.
    await Promise.all(keys.slice(0, 20).map((k) => store.write(k, '{}')));
    for (const k of keys.slice(20)) {
      const file = join(s3.dataDir, BUCKET, k.slice(`s3://${BUCKET}/`.length));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, '{}');
    }
    const all = await store.list(prefix);
    expect(all).toHaveLength(keys.length);
    expect(all).toEqual([...keys].sort());
    const level = await store.listFolder(prefix);
    expect(level.objects.map((o) => o.location)).toEqual(names.map((n) => `${prefix}/${n}`));
    expect(level.folders).toEqual(folders.map((d) => `${prefix}/${d}`));
    expect(level.objects[0]).toMatchObject({ size: 2 });
  });
});

describe('faults', () => {
  it('S3 unreachable at start: `millrace run` fails before starting anything, naming the endpoint (exit 3)', async () => {
    const port = await freePort();
    const path = await h.writeNotebook('square.ipynb', smallNotebook());
    const id = `unreachable-${randomBytes(3).toString('hex')}`;
    const r = await cli(['run', path, '--id', id], { ...cliEnv, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}` });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^millrace: the store \\(MILLRACE_STORE\\): cannot reach S3 at http://127\\.0\\.0\\.1:${port} .*\\n$`));
    await expect(h.client.workflow.getHandle(id).describe()).rejects.toThrow(/not found/i);
  });

  it("store credentials: MILLRACE_STORE_* keys, else MILLRACE_STORE_PROFILE, before AWS_*; half a key pair is refused", async () => {
    const outsiderAws = { AWS_ACCESS_KEY_ID: outsider.accessKey, AWS_SECRET_ACCESS_KEY: outsider.secretKey };
    const input = `s3://${INPUTS}/team/square.ipynb`;
    await store.write(input, JSON.stringify(smallNotebook()));
    const keys = await cli(['run', input, '--json'], { ...cliEnv, ...outsiderAws, MILLRACE_STORE_ACCESS_KEY_ID: root.accessKey, MILLRACE_STORE_SECRET_ACCESS_KEY: root.secretKey });
    expect(keys.stderr).toBe('');
    expect(keys.code).toBe(0);
    const credentials = join(h.dir, 'store-credentials');
    await writeFile(credentials, `[store]\naws_access_key_id = ${root.accessKey}\naws_secret_access_key = ${root.secretKey}\n`, { mode: 0o600 });
    const profile = await cli(['run', input, '--json'], { ...cliEnv, ...outsiderAws, AWS_SHARED_CREDENTIALS_FILE: credentials, MILLRACE_STORE_PROFILE: 'store' });
    expect(profile.stderr).toBe('');
    expect(profile.code).toBe(0);
    // The same AWS_* alone are the outsider's: denied, so the store's own settings won above.
    expect((await cli(['run', input], { ...cliEnv, ...outsiderAws })).code).toBe(3);
    const half = await cli(['run', input], { ...cliEnv, MILLRACE_STORE_ACCESS_KEY_ID: root.accessKey });
    expect(half.code).toBe(3);
    expect(half.stderr).toBe(
      `millrace: the store (MILLRACE_STORE): MILLRACE_STORE_ACCESS_KEY_ID is set without MILLRACE_STORE_SECRET_ACCESS_KEY: set both, or neither to use MILLRACE_STORE_PROFILE or the AWS credential chain\n`,
    );
  });

  it('access denied: one line naming the bucket and key (exit 3), in the CLI and in a run', async () => {
    const denied = { ...cliEnv, AWS_ACCESS_KEY_ID: outsider.accessKey, AWS_SECRET_ACCESS_KEY: outsider.secretKey };
    const input = await cli(['run', `s3://${INPUTS}/team/square.ipynb`], denied);
    expect(input.code).toBe(3);
    expect(input.stderr).toBe(
      `millrace: s3://${INPUTS}/team/square.ipynb: access denied reading s3://${INPUTS}/team/square.ipynb (bucket "${INPUTS}", key "team/square.ipynb"): the AWS credentials in use lack permission for it\n`,
    );
    const path = await h.writeNotebook('denied.ipynb', notebook([codeCell('print("denied")')]));
    const write = await cli(['run', path], denied);
    expect(write.code).toBe(3);
    expect(write.stderr).toMatch(
      new RegExp(`^millrace: saving the notebook snapshot: access denied writing ${STORE}/sources/[0-9a-f]{64}\\.ipynb \\(bucket "${BUCKET}", key "store/sources/[0-9a-f]{64}\\.ipynb"\\)`),
    );
    for (const text of [input.stderr, write.stderr]) expect(text.includes(outsider.secretKey)).toBe(false);

    // A worker whose credentials cannot write the output: the run fails at once (no
    // retries into the same wall), naming the bucket and key.
    const runInput = await buildRunInput({ ...h.config, storeRoot: STORE }, { notebookPath: path, params: {}, output: `s3://${INPUTS}/denied/out.ipynb` });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: outsider.accessKey, AWS_SECRET_ACCESS_KEY: outsider.secretKey });
    try {
      const failure = await h.client.workflow
        .execute('notebookRun', { taskQueue: h.taskQueue, workflowId: runInput.runId, args: [runInput] })
        .then(() => undefined, (err: Error) => err);
      const cause = (failure as { cause?: { cause?: Error; message?: string } })?.cause;
      const message = `${cause?.message ?? ''} ${cause?.cause?.message ?? ''}`;
      expect(message).toContain(`access denied`);
      expect(message).toMatch(/bucket "(inputs|millrace)", key "/);
    } finally {
      Object.assign(process.env, s3.clientEnv());
    }
  });

  it.each([
    { how: 'the SDK retries the writes', maxAttempts: undefined, outageMs: 4_000 },
    // One attempt per request: the write fails, the activity fails, and its retry writes
    // out the copy the worker kept (the cell is not run again, its outputs are not lost).
    { how: 'a failed write is retried by the activity', maxAttempts: '1', outageMs: 1_200 },
  ])('S3 flapping mid-run ($how): the run completes with a correct record', async ({ maxAttempts, outageMs }) => {
    if (maxAttempts) process.env['AWS_MAX_ATTEMPTS'] = maxAttempts;
    const cells = [codeCell('import time')];
    for (let i = 1; i <= 24; i++) cells.push(codeCell(`time.sleep(0.25)\nprint("cell", ${i})`));
    const path = await h.writeNotebook('flap.ipynb', notebook(cells));
    const input = await buildRunInput({ ...h.config, storeRoot: STORE }, { notebookPath: path, params: {} });
    const handle = await h.client.workflow.start('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] });
    const completed = async () => ((await handle.query<RunProgress>('progress')).cells ?? []).filter((c) => c.status === 'completed').length;
    while ((await completed()) < 5) await new Promise((r) => setTimeout(r, 100));
    // A live run is readable: the whole notebook plus the journal since.
    const live = await readRecord(input.output);
    const liveDone = live.notebook.cells.filter((c) => (c.metadata['papermill'] as { status?: string })?.status === 'completed').length;
    expect(liveDone).toBeGreaterThanOrEqual(5);

    // Record writes made while S3 was down: the SDK retries them, and when it gives up
    // the activity fails and is retried.
    const writes: Array<{ started: number; ended?: number; failed?: boolean }> = [];
    const original = store.write;
    store.write = async (location, data, options) => {
      const w: { started: number; ended?: number; failed?: boolean } = { started: Date.now() };
      writes.push(w);
      try {
        return await original(location, data, options);
      } catch (err) {
        w.failed = true;
        throw err;
      } finally {
        w.ended = Date.now();
      }
    };
    let restarted = 0;
    let stopped = 0;
    let result: RunResult;
    try {
      await s3.stop();
      stopped = Date.now();
      const outageStarted = await completed();
      await new Promise((r) => setTimeout(r, outageMs));
      s3 = await startS3Server({ stateDir: s3StateDir, dataDir: s3.dataDir, port: s3.port, root, users: [outsider] });
      restarted = Date.now();
      result = (await handle.result()) as RunResult;
      expect(outageStarted).toBeLessThan(25);
    } finally {
      store.write = original;
      delete process.env['AWS_MAX_ATTEMPTS'];
    }
    expect(result.status).toBe('completed');
    if (maxAttempts) expect(writes.some((w) => w.failed), 'no write failed').toBe(true);
    const during = writes.filter((w) => w.started >= stopped && w.started < restarted);
    expect(during.length, 'no record write met the outage').toBeGreaterThan(0);
    console.log(`flapping: ${during.length} writes started during the outage, ${writes.filter((w) => w.failed).length} failed and were retried`);

    const nb = await readJson(input.output);
    expect(nb.cells).toHaveLength(25);
    for (let i = 1; i <= 24; i++) {
      expect(streamText(nb.cells[i]!)).toBe(`cell ${i}\n`);
      expect(streamText(nb.cells[i]!, 'stderr')).toBe('');
    }
    expect(nb.cells.every((c) => c['metadata']['papermill']['status'] === 'completed')).toBe(true);
    expect(nb.cells.slice(1).map((c) => c['execution_count'])).toEqual(Array.from({ length: 24 }, (_, i) => i + 2));
  });
});

describe('record writes', () => {
  it('cost O(cells) bytes: a 1,000-cell run writes less than 20 × its final record', async () => {
    const counted = { bytes: 0, writes: 0 };
    const original = store.write;
    const cells = [];
    for (let i = 0; i < 1000; i++) cells.push(codeCell(`x = ${i}\nprint(x)`));
    const path = await h.writeNotebook('thousand.ipynb', notebook(cells));
    const input = await buildRunInput({ ...h.config, storeRoot: STORE }, { notebookPath: path, params: {} });
    const runFolder = input.output.replace(/\/[^/]*$/, '/');
    store.write = async (location, data, options) => {
      if (location.startsWith(runFolder)) {
        counted.bytes += Buffer.byteLength(data);
        counted.writes++;
      }
      return original(location, data, options);
    };
    try {
      const result = (await h.client.workflow.execute('notebookRun', { taskQueue: h.taskQueue, workflowId: input.runId, args: [input] })) as RunResult;
      expect(result.status).toBe('completed');
    } finally {
      store.write = original;
    }
    const final = (await store.read(input.output)).length;
    const nb = await readJson(input.output);
    expect(nb.cells).toHaveLength(1000);
    expect(streamText(nb.cells[999]!)).toBe('999\n');
    console.log(`record writes for 1,000 cells on S3: ${counted.bytes} bytes in ${counted.writes} writes; final record ${final} bytes (${(counted.bytes / final).toFixed(2)}×)`);
    expect(counted.bytes).toBeLessThan(20 * final);
  }, 600_000);
});
