// A foreground `millrace run` that a `millrace dev` follows (cli/follow-dev.ts), when the
// stream from dev ends badly. The answers are this socket's, shaped as dev's `run`
// (test/e2e/dev-api.test.ts runs a real dev); the command is a real process of the build.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { DEV_API_HEADER, DEV_API_VERSION } from '../../cli/dev-api.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'millrace-follow-dev-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const NOTEBOOK = join(work, 'nb.ipynb');
writeFileSync(
  NOTEBOOK,
  JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } }, cells: [] }),
);

let count = 0;
/** `millrace run NOTEBOOK --id ID` against a socket whose `run` answers with `answer(res)`. */
async function runAgainst(answer: (res: ServerResponse) => void, args: string[] = ['--id', 'r1']): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const state = join(work, `state-${count++}`);
  mkdirSync(state, { mode: 0o700 });
  const server = createServer((req, res) => {
    req.resume();
    res.setHeader(DEV_API_HEADER, DEV_API_VERSION);
    req.on('end', () => answer(res));
  });
  await new Promise<void>((resolve) => server.listen(join(state, 'dev.sock'), resolve));
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: work, MILLRACE_HOME: state };
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'millrace.js'), 'run', NOTEBOOK, ...args, '--no-progress-bar'], { cwd: work, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { status, stdout, stderr };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const LOST = 'millrace: lost the connection to millrace dev while following run r1; the run may still be going: once the stack is back, `millrace show r1` says how it stands\n';

it('says dev was lost, exit 3, when the stream ends before its answer', async () => {
  const result = await runAgainst((res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(`${JSON.stringify({ event: { started: 'r1' } })}\n`, () => res.destroy());
  });
  expect(result).toEqual({
    status: 3,
    stdout: '',
    stderr: `run r1\n${LOST}`,
  });
  // Gone before it answered at all: the run may have started all the same.
  expect(await runAgainst((res) => res.destroy())).toEqual({ status: 3, stdout: '', stderr: LOST });
  // dev picks the run id when the command gave none (cli/run-input.ts): gone before it said which.
  expect(await runAgainst((res) => res.destroy(), [])).toEqual({
    status: 3,
    stdout: '',
    stderr: `millrace: lost the connection to millrace dev while starting a run of ${NOTEBOOK}; it may have started: once the stack is back, \`millrace runs\` lists the runs\n`,
  });
});

it("prints dev's error line and exits with its code when following fails after the start", async () => {
  const result = await runAgainst((res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(`${JSON.stringify({ event: { started: 'r1' } })}\n${JSON.stringify({ error: 'unexpected error: boom', exitCode: 4 })}\n`);
  });
  expect(result).toEqual({ status: 4, stdout: '', stderr: 'run r1\nmillrace: unexpected error: boom\n' });
});

it('refuses as dev refused before the start, with its line and exit code', async () => {
  const result = await runAgainst((res) => {
    res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'run id r1 is already taken: choose another --id', exitCode: 2 }));
  });
  expect(result).toEqual({ status: 2, stdout: '', stderr: 'millrace: run id r1 is already taken: choose another --id\n' });
});

it('refuses a dev of another version with the line that says to restart it, exit 3, before anything runs', async () => {
  // A dev of an earlier millrace answers without the header (as before it existed).
  const result = await runAgainst((res) => {
    res.removeHeader(DEV_API_HEADER);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(`${JSON.stringify({ event: { started: 'r1' } })}\n${JSON.stringify({ answer: { run_id: 'r1' } })}\n`);
  });
  expect(result.status).toBe(3);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^millrace: millrace dev in \S+ was started by another version of millrace: stop it \(Ctrl-C where it runs\) and start `millrace dev` again\n$/);
});
