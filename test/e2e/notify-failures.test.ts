/**
 * Issue 14 item 10 against a real local HTTP server: a webhook URL with credentials in it
 * is delivered with HTTP Basic authentication (the credentials never in history), and a
 * notification that could not be delivered is said by `show`, `runs` and their --json.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeCell, notebook, runCli, startHarness, waitFor, type Harness } from './harness.js';

let h: Harness;
let env: NodeJS.ProcessEnv;
let server: Server;
let port = 0;
const tag = randomBytes(3).toString('hex');
const created: string[] = [];
const requests: Array<{ path: string; headers: IncomingHttpHeaders }> = [];

beforeAll(async () => {
  // Clients seal webhook URLs with this key; the harness worker (this process) opens them.
  process.env['MILLRACE_SECRET_KEY'] = randomBytes(32).toString('base64');
  h = await startHarness();
  env = { ...h.cliEnv, MILLRACE_SECRET_KEY: process.env['MILLRACE_SECRET_KEY'] };
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers });
      if (req.url?.startsWith('/fail/')) return void res.writeHead(500).end('down');
      const ok = req.headers.authorization === `Basic ${Buffer.from('hook user:p@ss:word').toString('base64')}`;
      res.writeHead(ok ? 200 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const name of created) await h?.client.schedule.getHandle(`millrace-schedule-${name}`).delete().catch(() => undefined);
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await h?.close();
});

async function cliJson(...args: string[]): Promise<any> {
  const r = await runCli([...args, '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** A schedule of a notebook that completes, notifying always; triggered once: its run id. */
async function triggeredRun(name: string, webhook: string): Promise<string> {
  const nb = await h.writeNotebook(`${name}.ipynb`, notebook([codeCell('print("done")')]));
  created.push(name);
  await cliJson('schedule', 'create', name, nb, '--cron', '0 6 * * *', '--notify-on', 'always', '--notify-webhook', webhook);
  const trig = await cliJson('schedule', 'trigger', name);
  await h.client.workflow.getHandle(trig.run_id).result();
  return trig.run_id as string;
}

const asText = (value: unknown) =>
  JSON.stringify(value, (key, v) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : key === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
  );

describe('webhook notifications', () => {
  it('a URL with user:password is delivered with HTTP Basic authentication; the credentials stay out of history', async () => {
    const name = `basic-${tag}`;
    const url = `http://hook%20user:p%40ss%3Aword@127.0.0.1:${port}/basic/${tag}`;
    const runId = await triggeredRun(name, url);
    const delivered = await waitFor('the delivery', async () => requests.find((r) => r.path === `/basic/${tag}`));
    expect(delivered.headers.authorization).toBe(`Basic ${Buffer.from('hook user:p@ss:word').toString('base64')}`);
    const history = asText(await h.client.workflow.getHandle(runId).fetchHistory());
    for (const secret of ['p%40ss', 'p@ss', 'hook%20user', Buffer.from('hook user:p@ss:word').toString('base64')]) {
      expect(history.includes(secret), `${secret} in history`).toBe(false);
    }
    const shown = await runCli(['show', runId], env);
    expect(shown.stdout).not.toContain('notification failed');
    expect((await cliJson('show', runId)).notification_failed).toBeNull();
  });

  it('a notification that fails is said by show, runs and --json, without the URL; the run still completed', async () => {
    const name = `fail-${tag}`;
    const runId = await triggeredRun(name, `http://127.0.0.1:${port}/fail/${tag}`);
    expect(requests.filter((r) => r.path === `/fail/${tag}`)).toHaveLength(5);

    const shown = await runCli(['show', runId], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^status: {3}completed$/m);
    expect(shown.stdout).toMatch(/^notification failed: webhook answered HTTP 500 \(5 attempts\)$/m);
    expect(shown.stdout).not.toContain(`127.0.0.1:${port}`);
    const json = await cliJson('show', runId);
    expect(json).toMatchObject({ status: 'completed', notification_failed: 'webhook answered HTTP 500 (5 attempts)' });

    // Visibility catches up with the memo shortly after the run ends.
    const listed = await waitFor('the run listed with its memo', async () => {
      const runs = (await cliJson('runs', '--schedule', name)) as Array<{ run_id: string; notification_failed: string | null }>;
      return runs.find((r) => r.run_id === runId && r.notification_failed);
    });
    expect(listed.notification_failed).toBe('webhook answered HTTP 500 (5 attempts)');
    const table = await runCli(['runs', '--schedule', name], env);
    expect(table.stdout).toMatch(new RegExp(`^${runId} +completed, notify failed `, 'm'));
    const history = asText(await h.client.workflow.getHandle(runId).fetchHistory());
    expect(history.includes(`127.0.0.1:${port}`), 'the webhook address is in history').toBe(false);
  });
});
