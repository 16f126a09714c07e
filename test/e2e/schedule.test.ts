/**
 * `millrace schedule` against the real Temporal dev server, with the harness worker
 * executing the runs: triggers, backfills with the nominal time injected, overlap
 * policies, pause, snapshots taken by update, webhook notifications whose URL never
 * reaches history, and the refusals of bad input.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeCell, notebook, runCli, startHarness, streamText, type Harness, type NotebookJson } from './harness.js';

let h: Harness;
let env: NodeJS.ProcessEnv;
const tag = randomBytes(3).toString('hex');
const created: string[] = [];

beforeAll(async () => {
  // Clients seal webhook URLs with this key; the harness worker (this process) opens them.
  process.env['MILLRACE_SECRET_KEY'] = randomBytes(32).toString('base64');
  h = await startHarness();
  env = { ...h.cliEnv, MILLRACE_SECRET_KEY: process.env['MILLRACE_SECRET_KEY'] };
});

afterAll(async () => {
  for (const name of created) await h?.client.schedule.getHandle(`millrace-schedule-${name}`).delete().catch(() => undefined);
  await h?.close();
});

const cli = (...args: string[]) => runCli(args, env);

async function cliJson(...args: string[]): Promise<any> {
  const r = await cli(...args, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function create(name: string, nb: string, ...args: string[]): Promise<any> {
  created.push(name);
  return cliJson('schedule', 'create', name, nb, ...args);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The runs a schedule started, oldest first (from the schedule itself: consistent at once). */
async function runIds(name: string): Promise<string[]> {
  const d = await h.client.schedule.getHandle(`millrace-schedule-${name}`).describe();
  return d.info.recentActions.map((a) => a.action.workflow.workflowId);
}

async function settle(runId: string): Promise<void> {
  await h.client.workflow.getHandle(runId).result().catch(() => undefined);
}

function outputOf(runId: string, file: string): string {
  return join(h.config.storeRoot, 'runs', runId, file);
}

async function record(runId: string, file: string): Promise<NotebookJson> {
  return JSON.parse(await readFile(outputOf(runId, file), 'utf8')) as NotebookJson;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const paramsCell = (source: string) => codeCell(source, ['parameters']);

describe('schedule create, trigger, describe, list; runs --schedule', () => {
  it('a triggered run gets the schedule parameters and its nominal time, and is listed by the schedule', async () => {
    const name = `daily-${tag}`;
    const nb = await h.writeNotebook(
      'daily.ipynb',
      notebook([paramsCell('region = "us"\nscheduled_time = None\nrun_date = None'), codeCell('print(region, scheduled_time, run_date)')]),
    );
    const made = await create(name, nb, '--cron', '0 6 * * *', '--timezone', 'Europe/Paris', '-p', 'region', 'eu', '--note', 'owned by data-eng');
    expect(made).toMatchObject({ name, spec: 'cron 0 6 * * *', timezone: 'Europe/Paris', parameters: { region: 'eu' }, overlap: 'skip', note: 'owned by data-eng', paused: false });
    expect(made.next_runs).toHaveLength(10);
    // 06:00 in Paris is 05:00Z in winter and 04:00Z in summer.
    for (const t of made.next_runs) expect(t).toMatch(/T0[45]:00:00\.000Z$/);

    const trig = await cliJson('schedule', 'trigger', name);
    expect(trig.outcome).toBe('started');
    expect(trig.run_id).toMatch(new RegExp(`^${name}-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
    expect(trig.output).toBe(outputOf(trig.run_id, 'daily.ipynb'));
    await h.client.workflow.getHandle(trig.run_id).result();

    const out = await record(trig.run_id, 'daily.ipynb');
    const params = out.metadata['papermill'].parameters;
    const nominal = trig.run_id.slice(name.length + 1);
    expect(params.region).toBe('eu');
    expect(new Date(params.scheduled_time).toISOString()).toBe(nominal.replace('Z', '.000Z'));
    expect(params.scheduled_time).toMatch(/T\d\d:\d\d:\d\d\+0[12]:00$/); // Paris wall-clock time
    expect(params.run_date).toBe(params.scheduled_time.slice(0, 10));
    expect(streamText(out.cells[2]!)).toBe(`eu ${params.scheduled_time} ${params.run_date}\n`);

    const described = await cliJson('schedule', 'describe', name);
    expect(described.recent_runs[0]).toMatchObject({ run_id: trig.run_id, status: 'completed', output: trig.output });

    const runs = await waitFor('runs --schedule to list the run', async () => {
      const listed = await cliJson('runs', '--schedule', name);
      return listed.length > 0 ? listed : undefined;
    });
    // The run's own parameters, its nominal time included, as for a run of `millrace run`.
    expect(runs).toEqual([expect.objectContaining({ run_id: trig.run_id, status: 'completed', output: trig.output, schedule: name, parameters: params })]);
    const show = await cliJson('show', trig.run_id);
    expect(show).toMatchObject({ run_id: trig.run_id, status: 'completed', output: trig.output, parameters: params });
    expect((await cli('runs', '--schedule', name)).stdout).toContain(`region=eu, run_date=${params.run_date}, scheduled_time=${params.scheduled_time}`);
    // The kernel worked where `schedule create` was called (this process's directory).
    expect(made.cwd).toBe(process.cwd());
    expect(out.metadata['millrace'].cwd).toBe(process.cwd());

    const list = await waitFor('schedule list to show the schedule', async () => {
      const all = await cliJson('schedule', 'list');
      return all.find((s: any) => s.name === name && s.last_run);
    });
    expect(list).toMatchObject({ notebook: 'daily.ipynb', paused: false, last_run: { run_id: trig.run_id, status: 'completed' } });
    expect(list.next_run).toBe(made.next_runs[0]);
    const text = await cli('schedule', 'list');
    expect(text.stdout).toMatch(new RegExp(`${name}\\s+daily\\.ipynb\\s+cron 0 6 \\* \\* \\* \\(Europe/Paris\\)`));
  });

  it('--cwd: each run works there, resolved at each run; a directory gone fails that run at start, saying so', async () => {
    const name = `cwd-${tag}`;
    const folder = await mkdtemp(join(h.dir, 'reports-'));
    await writeFile(join(folder, 'data.txt'), 'from the folder\n');
    const nb = await h.writeNotebook('cwd.ipynb', notebook([codeCell('print(open("data.txt").read(), end="")')]));
    const made = await create(name, nb, '--every', '1d', '--cwd', folder);
    expect(made.cwd).toBe(folder);
    const first = await cliJson('schedule', 'trigger', name);
    await settle(first.run_id);
    const out = await record(first.run_id, 'cwd.ipynb');
    expect(streamText(out.cells[0]!)).toBe('from the folder\n');
    expect(out.metadata['millrace'].cwd).toBe(folder);
    await rm(folder, { recursive: true });
    await pause(1_100); // run ids have a resolution of one second
    const second = await cliJson('schedule', 'trigger', name);
    await settle(second.run_id);
    const why = `working directory ${folder} does not exist (resolved on the worker; choose another with --cwd)`;
    expect(await cliJson('show', second.run_id)).toMatchObject({ status: 'failed', failed_cell: null, reason: why });
  });

  it('a backfill over 3 days runs each day once, in order, with that day injected', async () => {
    const name = `backfill-${tag}`;
    const nb = await h.writeNotebook('bf.ipynb', notebook([paramsCell('scheduled_time = ""\nrun_date = ""'), codeCell('print(run_date)')]));
    await create(name, nb, '--cron', '0 6 * * *', '--timezone', 'America/New_York');
    // Dates are days in the schedule's zone; --end includes its whole day.
    const r = await cliJson('schedule', 'backfill', name, '--start', '2024-01-01', '--end', '2024-01-03');
    expect(r).toMatchObject({ start: '2024-01-01T05:00:00.000Z', end: '2024-01-04T04:59:59.999Z', overlap: 'buffer-all' });
    const ids = await waitFor('3 backfilled runs', async () => {
      const all = await runIds(name);
      return all.length === 3 ? all : undefined;
    });
    expect(ids).toEqual(['2024-01-01', '2024-01-02', '2024-01-03'].map((d) => `${name}-${d}T11:00:00Z`));
    for (const id of ids) await h.client.workflow.getHandle(id).result();
    const injected = await Promise.all(ids.map(async (id) => (await record(id, 'bf.ipynb')).metadata['papermill'].parameters));
    expect(injected).toEqual([
      { scheduled_time: '2024-01-01T06:00:00-05:00', run_date: '2024-01-01' },
      { scheduled_time: '2024-01-02T06:00:00-05:00', run_date: '2024-01-02' },
      { scheduled_time: '2024-01-03T06:00:00-05:00', run_date: '2024-01-03' },
    ]);
  });
});

describe('overlap policies with a slow notebook', () => {
  it('skip drops triggers while a run is going; buffer-one keeps one waiting and runs it afterwards', async () => {
    // Runs last until the test opens the gate (at most a minute), however slow the machine.
    const gate = join(h.dir, `gate-${tag}`);
    const wait = `import os, time\ndeadline = time.time() + 60\nwhile not os.path.exists(${JSON.stringify(gate)}) and time.time() < deadline:\n    time.sleep(0.1)`;
    const nb = await h.writeNotebook('slow.ipynb', notebook([codeCell(wait)]));
    const skip = `skip-${tag}`;
    const buffer = `buffer-${tag}`;
    await create(skip, nb, '--cron', '0 0 1 1 *', '--overlap', 'skip');
    await create(buffer, nb, '--cron', '0 0 1 1 *', '--overlap', 'buffer-one');

    const triggerThrice = async (name: string) => {
      const outcomes: string[] = [];
      for (let i = 0; i < 3; i++) {
        // Run ids have a resolution of one second: one trigger per second at most.
        if (i > 0) await pause(1100);
        outcomes.push((await cliJson('schedule', 'trigger', name)).outcome);
      }
      return outcomes;
    };
    const [skipped, buffered] = await Promise.all([triggerThrice(skip), triggerThrice(buffer)]);
    expect(skipped).toEqual(['started', 'skipped', 'skipped']);
    // A third trigger finds one run going and one waiting: Temporal skips it.
    expect(buffered).toEqual(['started', 'buffered', 'skipped']);
    await writeFile(gate, '');

    const bufferRuns = await waitFor('the buffered run', async () => {
      const ids = await runIds(buffer);
      return ids.length === 2 ? ids : undefined;
    });
    await Promise.all([...bufferRuns, ...(await runIds(skip))].map(settle));
    expect(await runIds(skip)).toHaveLength(1);
    expect(await runIds(buffer)).toHaveLength(2);
    const [first, second] = await Promise.all(bufferRuns.map((id) => h.client.workflow.getHandle(id).describe()));
    // The buffered run started only once the first one had ended.
    expect(second!.startTime.getTime()).toBeGreaterThanOrEqual(first!.closeTime!.getTime());
    expect(second!.status.name).toBe('COMPLETED');
    const described = await cliJson('schedule', 'describe', skip);
    expect(described.skipped_overlap).toBe(2);
  });
});

describe('pause and unpause', () => {
  it('a paused schedule starts nothing and refuses triggers; unpaused, it runs again', async () => {
    const name = `tick-${tag}`;
    const nb = await h.writeNotebook('tick.ipynb', notebook([codeCell('print("tick")')]));
    await create(name, nb, '--every', '1s', '--paused', '--note', 'not yet');
    const refused = await cli('schedule', 'trigger', name);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(`millrace: schedule ${name} is paused (not yet): unpause it, or trigger anyway with --force`);
    await pause(2500);
    expect(await runIds(name)).toEqual([]);

    expect((await cliJson('schedule', 'unpause', name, '--note', 'go')).paused).toBe(false);
    await waitFor('a run after unpausing', async () => ((await runIds(name)).length > 0 ? true : undefined), 15_000);

    expect((await cliJson('schedule', 'pause', name, '--note', 'maintenance')).paused).toBe(true);
    await Promise.all((await runIds(name)).map(settle));
    const count = (await runIds(name)).length;
    await pause(2500);
    expect(await runIds(name)).toHaveLength(count);
    const described = await cliJson('schedule', 'describe', name);
    expect(described).toMatchObject({ paused: true, note: 'maintenance', spec: 'every 1s' });
    expect((await cliJson('schedule', 'delete', name)).deleted).toBe(true);
    const gone = await cli('schedule', 'describe', name);
    expect(gone.code).toBe(2);
    expect(gone.stderr.trim()).toBe(`millrace: no schedule ${name}: see \`millrace schedule list\``);
  });
});

describe('update', () => {
  it('runs keep the snapshot until update takes a new one; parameters and spec change too', async () => {
    const name = `versioned-${tag}`;
    const path = join(h.dir, 'versioned.ipynb');
    await writeFile(path, JSON.stringify(notebook([paramsCell('greeting = "hello"'), codeCell('print("v1", greeting)')])));
    const made = await create(name, path, '--cron', '0 6 * * *');
    // Editing the file changes nothing for the schedule...
    await writeFile(path, JSON.stringify(notebook([paramsCell('greeting = "hello"'), codeCell('print("v2", greeting)')])));
    const first = await cliJson('schedule', 'trigger', name);
    expect(first.outcome).toBe('started');
    await settle(first.run_id);
    expect(streamText((await record(first.run_id, 'versioned.ipynb')).cells[1]!)).toBe('v1 hello\n');

    // ...until update takes a new snapshot of it.
    const updated = await cliJson('schedule', 'update', name, '--notebook', '-p', 'greeting', 'hi', '--cron', '30 7 * * *');
    expect(updated.source.location).not.toBe(made.source.location);
    expect(updated).toMatchObject({ spec: 'cron 30 7 * * *', parameters: { greeting: 'hi' } });
    for (const t of updated.next_runs) expect(t).toMatch(/T07:30:00\.000Z$/);
    await pause(1100);
    const second = await cliJson('schedule', 'trigger', name);
    await settle(second.run_id);
    const out = await record(second.run_id, 'versioned.ipynb');
    expect(streamText(out.cells[2]!)).toBe('v2 hi\n');
  });
});

describe('notifications', () => {
  let server: Server;
  const requests: Array<{ path: string; body: any }> = [];
  let port = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let data = '';
      req.on('data', (d) => (data += d));
      req.on('end', () => {
        requests.push({ path: req.url ?? '', body: JSON.parse(data) });
        // The first delivery fails: Temporal's activity retry delivers it again.
        res.writeHead(requests.length === 1 ? 500 : 200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a failed scheduled run POSTs its summary to the webhook; the URL is nowhere in history', async () => {
    const name = `hook-${tag}`;
    const secret = `T0${randomBytes(6).toString('hex')}`;
    const url = `http://127.0.0.1:${port}/services/${secret}`;
    const nb = await h.writeNotebook('failing.ipynb', notebook([codeCell('x = 1'), codeCell('raise KeyError("missing")')]));
    const made = await create(name, nb, '--cron', '0 6 * * *', '--notify-on', 'failure', '--notify-webhook', url);
    expect(made.notify).toEqual({ on: 'failure', webhook: expect.stringMatching(/^sealed \(key [0-9a-f]{12}\)$/) });

    const trig = await cliJson('schedule', 'trigger', name);
    await settle(trig.run_id);
    const delivered = await waitFor('the webhook delivery', async () => (requests.length >= 2 ? requests[1] : undefined));
    expect(delivered.path).toBe(`/services/${secret}`);
    expect(delivered.body).toEqual({
      run_id: trig.run_id,
      notebook: 'failing.ipynb',
      status: 'failed',
      failed_cell: 1,
      error: { ename: 'KeyError', evalue: "'missing'" },
      output: trig.output,
      schedule: name,
      scheduled_time: expect.stringMatching(/Z$/),
      text: `millrace run ${trig.run_id} (failing.ipynb) failed at cell 1: KeyError: 'missing'. Output: ${trig.output}`,
    });

    // Payload bytes (base64 in fetched history, bytes in a describe) decoded as text, so a
    // URL in any input, result, failure or memo would show.
    const asText = (value: unknown) =>
      JSON.stringify(value, (key, v) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
      );
    const history = asText(await h.client.workflow.getHandle(trig.run_id).fetchHistory());
    expect(history).toContain('"activityType":{"name":"notifyWebhook"}');
    expect(history).toContain('aes-256-gcm');
    expect(history).toContain("KeyError");
    expect(history.includes(secret), 'the webhook path is in history').toBe(false);
    expect(history.includes(`127.0.0.1:${port}`), 'the webhook address is in history').toBe(false);
    const scheduleRecord = asText((await h.client.schedule.getHandle(`millrace-schedule-${name}`).describe()).raw);
    expect(scheduleRecord).toContain('aes-256-gcm');
    expect(scheduleRecord.includes(secret), 'the webhook path is in the schedule').toBe(false);
    const described = await cli('schedule', 'describe', name);
    expect(described.stdout).not.toContain(secret);
  });
});

describe('bad input is refused with one line and exit 2, and nothing is created', () => {
  const NB = 'NOTEBOOK';
  it.each([
    [['create', 'bad-cron', NB, '--cron', '61 * * * *'], '--cron "61 * * * *": Minute is not in range [0-59]'],
    [['create', 'bad-cron', NB, '--cron', '* * *'], 'a cron expression has 5 fields'],
    [['create', 'bad-cron', NB, '--cron', '@fortnightly'], 'unknown shorthand'],
    [['create', 'bad-every', NB, '--every', '5 parsecs'], '--every "5 parsecs": a duration is a number and a unit'],
    [['create', 'bad-every', NB, '--every', '500ms'], "Temporal's shortest interval is 1s"],
    [['create', 'bad-tz', NB, '--every', '1h', '--timezone', 'Mars/Olympus_Mons'], '--timezone "Mars/Olympus_Mons": unknown time zone'],
    [['create', 'bad-window', NB, '--every', '1h', '--catchup-window', 'soon'], '--catchup-window "soon": a duration'],
    [['create', 'no-spec', NB], 'a schedule needs --cron EXPR or --every DURATION'],
    [['create', 'two-specs', NB, '--cron', '@daily', '--every', '1h'], 'give either --cron or --every, not both'],
    [['create', 'bad-overlap', NB, '--every', '1h', '--overlap', 'sometimes'], '--overlap "sometimes": choose one of skip, buffer-one'],
    [['create', 'no-hook', NB, '--every', '1h', '--notify-on', 'failure'], '--notify-on needs --notify-webhook URL'],
    [['create', 'bad-hook', NB, '--every', '1h', '--notify-webhook', 'ftp://example.com/x'], 'a webhook is an http:// or https:// URL'],
    [['create', 'bad-when', NB, '--every', '1h', '--notify-on', 'sometimes', '--notify-webhook', 'https://example.com/x'], '--notify-on "sometimes"'],
    [['create', 'bad name', NB, '--every', '1h'], 'schedule name "bad name": a schedule name is'],
    [['create', 'no-file', 'missing.ipynb', '--every', '1h'], 'missing.ipynb: no such file'],
    [['create', 'fixed-time', NB, '--every', '1h', '-p', 'scheduled_time', 'x'], '-p scheduled_time: the schedule sets scheduled_time'],
    [['describe', `nothing-${tag}`], `no schedule nothing-${tag}`],
    [['list', '-p', 'a', '1'], '-p and -r are not options of `millrace schedule list`'],
  ])('%j', async (args, message) => {
    const nb = await h.writeNotebook('plain.ipynb', notebook([codeCell('1')]));
    const r = await cli('schedule', ...args.map((a) => (a === NB ? nb : a)));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses a second schedule of the same name and a backwards backfill; none of the refused ones exist', async () => {
    const nb = await h.writeNotebook('plain.ipynb', notebook([codeCell('1')]));
    const name = `dup-${tag}`;
    await create(name, nb, '--every', '1d');
    const again = await cli('schedule', 'create', name, nb, '--every', '1d');
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`millrace: schedule ${name} already exists: change it with \`millrace schedule update ${name}\` or delete it first`);
    const backwards = await cli('schedule', 'backfill', name, '--start', '2024-01-03', '--end', '2024-01-01');
    expect(backwards.code).toBe(2);
    expect(backwards.stderr.trim()).toBe('millrace: --end 2024-01-01 is not after --start 2024-01-03');
    const vague = await cli('schedule', 'backfill', name, '--start', 'yesterday', '--end', '2024-01-01');
    expect(vague.stderr).toContain('--start "yesterday": give an ISO 8601 time with Z or an offset');
    const ids: string[] = [];
    for await (const s of h.client.schedule.list()) ids.push(s.scheduleId);
    for (const refused of ['bad-cron', 'bad-every', 'bad-tz', 'no-spec', 'bad-hook', 'fixed-time']) {
      expect(ids).not.toContain(`millrace-schedule-${refused}`);
    }
  });
});
