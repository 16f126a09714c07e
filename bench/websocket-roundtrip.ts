/**
 * What TCP_NODELAY on Jupyter Server's kernel websockets is worth: the time to execute a
 * trivial cell (`1`) through @jupyterlab/services, sequentially, with the patch of
 * worker/websocket_nodelay.py and without it (the server as shipped); then the same
 * through Jupyter Kernel Gateway and Enterprise Gateway (bench/kernel-gateway.ts), with and
 * without the patch.
 *
 *   npm run build && node dist/bench/websocket-roundtrip.js [cells=50] [rounds=2]
 *
 * Rounds alternate the servers so that drift on the machine affects all alike.
 */
import { KernelAPI, KernelConnection, ServerConnection } from '@jupyterlab/services';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startJupyterServer } from '../worker/jupyter-server.js';
import { startKernelGateway } from './kernel-gateway.js';

const cells = Number(process.argv[2] ?? 50);
const rounds = Number(process.argv[3] ?? 2);
const WARMUP = 5;

function settingsFor(server: { url: string; token: string }): ServerConnection.ISettings {
  const baseUrl = `${server.url}/`;
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token: server.token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
}

/** Milliseconds per cell for `cells` sequential executions of `1` on a fresh kernel. */
async function measure(server: { url: string; token: string }): Promise<number[]> {
  const settings = settingsFor(server);
  const model = await KernelAPI.startNew({ name: 'python3' }, settings);
  const kernel = new KernelConnection({ model, serverSettings: settings });
  try {
    const times: number[] = [];
    for (let i = 0; i < WARMUP + cells; i++) {
      const started = performance.now();
      const reply = await kernel.requestExecute({ code: '1', stop_on_error: true }).done;
      if (reply.content.status !== 'ok') throw new Error(`cell failed: ${JSON.stringify(reply.content)}`);
      if (i >= WARMUP) times.push(performance.now() - started);
    }
    return times;
  } finally {
    kernel.dispose();
    await KernelAPI.shutdownKernel(model.id, settings);
  }
}

function summary(times: number[]): { mean: number; median: number; p90: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { mean: times.reduce((a, b) => a + b, 0) / times.length, median: at(0.5), p90: at(0.9) };
}

async function main(): Promise<void> {
  // Quiet @jupyterlab/services' "Starting WebSocket" lines.
  console.log = console.debug = () => undefined;
  const dirs = await Promise.all(['on', 'off', 'kg-on', 'kg-off', 'eg-on', 'eg-off'].map((name) => mkdtemp(join(tmpdir(), `millrace-bench-${name}-`))));
  const [on, off, kgOn, kgOff, egOn, egOff] = await Promise.all([
    startJupyterServer({ stateDir: dirs[0]!, nodelay: true }),
    startJupyterServer({ stateDir: dirs[1]!, nodelay: false }),
    startKernelGateway({ stateDir: dirs[2]!, nodelay: true }),
    startKernelGateway({ stateDir: dirs[3]!, nodelay: false }),
    startKernelGateway({ stateDir: dirs[4]!, nodelay: true, kind: 'enterprise-gateway' }),
    startKernelGateway({ stateDir: dirs[5]!, nodelay: false, kind: 'enterprise-gateway' }),
  ]);
  const servers = { on, off, kgOn, kgOff, egOn, egOff };
  const results = { on: [] as number[], off: [] as number[], kgOn: [] as number[], kgOff: [] as number[], egOn: [] as number[], egOff: [] as number[] };
  const NODELAY_LINE = 'millrace: TCP_NODELAY on kernel websocket';
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['off', 'on', 'kgOff', 'kgOn', 'egOff', 'egOn'] as const) : (['egOn', 'egOff', 'kgOn', 'kgOff', 'on', 'off'] as const);
      for (const which of order) results[which].push(...(await measure(servers[which])));
    }
    const patched = (await readFile(on.logPath, 'utf8')).includes(NODELAY_LINE) && [kgOn, egOn].every((g) => g.logText().includes(NODELAY_LINE));
    const unpatched = !(await readFile(off.logPath, 'utf8')).includes(NODELAY_LINE) && [kgOff, egOff].every((g) => !g.logText().includes(NODELAY_LINE));
    if (!patched || !unpatched) throw new Error('the servers did not run with and without the patch as intended');
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
  const fmt = (n: number) => n.toFixed(2).padStart(8);
  const lines = [
    `execute "1", ${cells} cells x ${rounds} rounds per server, sequential, one kernel per round`,
    '',
    '| kernel websocket                             |  mean ms |   median |      p90 |',
    '|----------------------------------------------|---------:|---------:|---------:|',
  ];
  for (const [label, times] of [
    ['Jupyter Server, TCP_NODELAY (millrace)', results.on],
    ['Jupyter Server as shipped (Nagle)', results.off],
    ['Kernel Gateway, TCP_NODELAY (our config)', results.kgOn],
    ['Kernel Gateway as shipped (Nagle)', results.kgOff],
    ['Enterprise Gateway, TCP_NODELAY (our config)', results.egOn],
    ['Enterprise Gateway as shipped (Nagle)', results.egOff],
  ] as const) {
    const s = summary(times);
    lines.push(`| ${label.padEnd(44)} | ${fmt(s.mean)} | ${fmt(s.median)} | ${fmt(s.p90)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
