/**
 * The small local API `millrace dev` serves to the commands of its state directory
 * (cli/dev-api.ts is the other side): HTTP on a Unix socket, mode 0600, so only this user
 * reaches it. Each operation is the function the command runs itself when no dev answers,
 * here with dev's long-lived Temporal client, so its answer is what the command prints
 * from (`--json` output is the same either way).
 */
import { Client, Connection } from '@temporalio/client';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { kernelPlacementSchema, runInputSchema, type RunInput } from '../workflows/contracts.js';
import { listRuns, runFilterOf } from './run-summaries.js';
import { shownRun } from './show-view.js';
import { DEV_API_HEADER, DEV_API_VERSION, devApiSocket, MAX_SOCKET_PATH, type DevApiError } from './dev-api.js';
import { EXIT, UserError } from './errors.js';
import { checkRunArgument } from './run-ids.js';
import { followRun } from './follow-run.js';
import { listFilterSchema, temporalSource, type InspectSource } from './inspect/data.js';
import { INSPECT_RUNS } from './inspect/dev-source.js';
import { runInputOf } from './run-input.js';
import { startRun, type RunTarget } from './start-run.js';

/**
 * Requests are a few options, or a run's input (`run`), which Temporal refuses past its
 * 2 MB payload limit anyway; anything larger is not one of ours.
 */
const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** The run input as `millrace run` sends it: checked, and its defaults left to the workflow, as the client path leaves them. */
const startInputSchema = runInputSchema.extend({ onKernelLoss: z.enum(['fail', 'restart']).optional(), onFailure: z.enum(['fail', 'pause']).optional() });

const OPERATIONS: Record<string, (client: Client, body: unknown) => Promise<unknown>> = {
  runs: (client, body) => listRuns(client, runFilterOf(body)),
  // The inspector's run list (cli/inspect/dev-source.ts): one source for dev's life, so a
  // failed run's failure is asked of Temporal once, whichever inspector asks.
  [INSPECT_RUNS]: (client, body) => inspectSource(client).listRuns(listFilterSchema.parse(body)),
  // `show` hands dev the run as typed (cli/commands/show.ts): dev checks it and builds the view.
  show: (client, body) => {
    const { run, colour } = z.object({ run: z.string(), colour: z.boolean().optional() }).parse(body);
    return shownRun(client, checkRunArgument(run, 'show'), colour ?? false);
  },
  // Ctrl-C on a foreground `run` that dev follows (cli/follow-dev.ts).
  cancel: async (client, body) => {
    const { run } = z.object({ run: z.string() }).parse(body);
    await client.workflow.getHandle(run).cancel();
    return { run_id: run };
  },
};

const inspectSources = new WeakMap<Client, InspectSource>();
function inspectSource(client: Client): InspectSource {
  let source = inspectSources.get(client);
  if (!source) inspectSources.set(client, (source = temporalSource(client)));
  return source;
}

const seconds = z.number().positive().optional();
const pairs = z.array(z.tuple([z.string(), z.string()]));

/** A `millrace run` as it was called (cli/run-input.ts RunCall), for dev to build its input. */
const runCallSchema = z.object({
  notebook: z.string(),
  calledFrom: z.string().refine(isAbsolute, 'an absolute path'),
  env: z.record(z.string(), z.string()),
  options: z.object({
    parameters: pairs,
    raw: pairs,
    files: z.array(z.string()),
    yaml: z.array(z.string()),
    kernel: z.string().optional(),
    output: z.string().optional(),
    id: z.string().optional(),
    wrap: z.object({ engine: z.string().optional(), connection: z.string().optional() }).optional(),
    cwd: z.string().optional(),
    cellTimeout: seconds,
    timeout: seconds,
    onKernelLoss: z.enum(['fail', 'restart']).optional(),
    onFailure: z.enum(['fail', 'pause']).optional(),
    pauseTimeout: seconds,
    checkpoint: z.boolean().optional(),
    placement: kernelPlacementSchema.optional(),
    reportMode: z.boolean().optional(),
    startTimeout: seconds,
    injectPaths: z.object({ input: z.boolean().optional(), output: z.boolean().optional() }).optional(),
  }),
});

/**
 * What `run` asks of dev (cli/follow-dev.ts): how it was called or the input it built; to
 * start the run and answer (`--detach`) or follow it, showing what (cli/run-outcome.ts FollowChoices).
 */
const runRequestSchema = z.object({
  call: runCallSchema.optional(),
  input: z.unknown().optional(),
  detach: z.boolean(),
  progress: z.enum(['terminal', 'lines']).optional(),
  pauses: z.boolean(),
});

/**
 * Operations that answer with a stream, one JSON object a line (cli/dev-api.ts followDev):
 * events while they go, then the answer. `emit` sends an event; the first one commits the
 * answer's status, so a refusal before it (a taken run id) is answered as any other.
 */
type StreamOperation = (target: RunTarget, body: unknown, emit: (event: unknown) => void, signal: AbortSignal) => Promise<unknown>;
const STREAMS: Record<string, StreamOperation> = {
  // `run`: its input built here with the function the command runs itself (runInputOf),
  // its warnings sent as they come, else checked as the command built it; started with
  // startRun, then followed as the command follows it itself (followRun), so it prints the
  // same and ends with the same report.
  run: async (target, body, emit, signal) => {
    const request = runRequestSchema.parse(body);
    const input: RunInput = request.call
      ? (await runInputOf(request.call, { onWarning: (warning) => emit({ warning }) })).input
      : startInputSchema.parse(request.input);
    // The command went away (Ctrl-C) while the input was built: it started nothing.
    if (signal.aborted) throw new UserError('the command went away before its run started', EXIT.internal);
    const started = Date.now();
    const handle = await startRun(target, input);
    emit({ started: input.runId, output: input.output });
    if (request.detach) return { run_id: input.runId, output: input.output };
    const { progress, pauses } = request;
    const sink = { stderr: (text: string) => emit({ stderr: text }), log: (line: string) => emit({ log: line }) };
    return followRun(handle, input, { ...(progress ? { progress } : {}), pauses }, sink, started, signal);
  },
};

/** dev's worker's client, or where dev's Temporal is when dev has no worker. */
export type DevTemporal = { client: Client; eagerStart: true } | { address: string; namespace: string };

export interface DevApi {
  /** The socket path, or undefined when the state directory's path is too long for one. */
  socket: string | undefined;
  close(): Promise<void>;
}

/**
 * Serves the API on dev's worker's client (runs start eagerly on that worker; the worker
 * closes it), or, with no worker in dev, on a connection of its own to that Temporal.
 */
export async function serveDevApi(
  stateDir: string,
  temporal: DevTemporal,
  taskQueue: string,
): Promise<DevApi> {
  const socket = devApiSocket(stateDir);
  if (socket.length > MAX_SOCKET_PATH) return { socket: undefined, close: async () => undefined };
  const { target, closeClient } = await devClient(temporal, taskQueue);
  const { client } = target;
  const server = createServer((req, res) => {
    res.setHeader(DEV_API_HEADER, DEV_API_VERSION);
    // A command of another millrace: its request may not mean what this dev would read.
    if (req.headers[DEV_API_HEADER] !== DEV_API_VERSION) {
      req.resume();
      return reply(res, failure(409, OTHER_VERSION));
    }
    const name = (req.url ?? '').replace(/^\//, '');
    if (req.method === 'POST' && Object.hasOwn(STREAMS, name)) return void stream(STREAMS[name]!, target, req, res);
    void answer(client, req).then((answered) => reply(res, answered));
  });
  // A socket left by a dev that was killed: dev.json said no dev runs here, so it is stale.
  rmSync(socket, { force: true });
  // The socket is created by listen() itself: with this umask it is never open to others,
  // not even for the moment before a chmod.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(socket, 0o600);
  return {
    socket,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      // Idle keep-alive connections would hold close() open: dev is stopping.
      server.closeAllConnections();
      await closed;
      rmSync(socket, { force: true });
      await closeClient();
    },
  };
}

async function devClient(temporal: DevTemporal, taskQueue: string): Promise<{ target: RunTarget; closeClient(): Promise<void> }> {
  if (!('address' in temporal)) return { target: { ...temporal, taskQueue }, closeClient: async () => undefined };
  const connection = await Connection.connect({ address: temporal.address });
  return { target: { client: new Client({ connection, namespace: temporal.namespace }), taskQueue }, closeClient: () => connection.close() };
}

const OTHER_VERSION = new UserError('this millrace is another version than the `millrace dev` it reached: stop dev (Ctrl-C where it runs) and start it again with this millrace', EXIT.environment);

function reply(res: ServerResponse, { status, body }: { status: number; body: unknown }): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function answer(client: Client, req: IncomingMessage): Promise<{ status: number; body: unknown }> {
  const name = (req.url ?? '').replace(/^\//, '');
  const operation = Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
  if (req.method !== 'POST' || !operation) return failure(404, new UserError(`millrace dev has no operation ${req.method} ${req.url}`, EXIT.internal));
  try {
    return { status: 200, body: await operation(client, JSON.parse(await readBody(req))) };
  } catch (err) {
    return failure(err instanceof UserError ? 422 : 500, err);
  }
}

async function stream(operation: StreamOperation, target: RunTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const gone = new AbortController();
  // The command went away (killed, or its terminal closed): stop following for it.
  res.on('close', () => gone.abort());
  const line = (value: unknown) => res.write(`${JSON.stringify(value)}\n`);
  const emit = (event: unknown) => {
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    line({ event });
  };
  try {
    const answer = await operation(target, JSON.parse(await readBody(req)), emit, gone.signal);
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    line({ answer });
    res.end();
  } catch (err) {
    const { status, body } = failure(err instanceof UserError ? 422 : 500, err);
    if (res.headersSent) {
      line(body);
      res.end();
    } else {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    }
  }
}

function failure(status: number, err: unknown): { status: number; body: DevApiError } {
  if (err instanceof UserError) return { status, body: { error: err.message, exitCode: err.exitCode } };
  // As cli/main.ts reports an error it did not expect: its first line.
  const message = err instanceof Error ? err.message : String(err);
  return { status, body: { error: `unexpected error: ${message.split('\n')[0]}`, exitCode: EXIT.internal } };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new UserError(`a request to millrace dev is limited to ${MAX_BODY_BYTES} bytes`, EXIT.internal);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
