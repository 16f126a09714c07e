/**
 * The machine a benchmark ran on, and how busy it was with work that is not the
 * benchmark's (other users' processes share the cores and skew every latency).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { temporalBinary } from '../worker/paths.js';
import { pythonVersions } from './papermill.js';
import { descendants, processTable } from './procmem.js';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  python: string;
  papermill: string;
  ipykernel: string;
  jupyterServer: string;
  temporal: string;
}

export async function describeMachine(): Promise<Machine> {
  const versions = await pythonVersions();
  let temporal = 'unknown';
  try {
    temporal = execFileSync(temporalBinary(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    ...versions,
    temporal,
  };
}

/** Busy and total CPU time of the whole machine so far (ms), from /proc/stat. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy * 10, total: (busy + idle + iowait) * 10 };
}

/**
 * Watches a section of the benchmark for load from elsewhere (other users' builds and
 * tests on a shared machine): every second, the CPU time of every process that is not
 * (and never was) in the benchmark's own process tree. Processes that start and end
 * between two ticks are missed, so this is a lower bound.
 */
export class LoadWatch {
  private readonly wallStart = performance.now();
  private readonly load1Start = loadavg()[0]!;
  private readonly machineStart = machineCpuMs();
  private readonly own = new Set<number>();
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.tick(true);
    this.timer = setInterval(() => this.tick(false), 1_000);
  }

  private tick(initial: boolean): void {
    const table = processTable();
    const parents = new Map([...table].map(([pid, p]) => [pid, p.ppid]));
    const cpu = new Map([...table].map(([pid, p]) => [pid, p.cpuMs]));
    for (const pid of descendants([process.pid], parents)) this.own.add(pid);
    for (const [pid, ms] of cpu) {
      if (this.own.has(pid)) continue;
      if (!this.first.has(pid)) this.first.set(pid, initial ? ms : 0);
      this.last.set(pid, ms);
    }
  }

  stop(): { wallS: number; foreignCores: number; machineCores: number; load1: [number, number] } {
    clearInterval(this.timer);
    this.tick(false);
    const wallMs = performance.now() - this.wallStart;
    let foreign = 0;
    for (const [pid, ms] of this.last) if (!this.own.has(pid)) foreign += ms - (this.first.get(pid) ?? 0);
    const machine = machineCpuMs().busy - this.machineStart.busy;
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      wallS: round(wallMs / 1000),
      foreignCores: round(foreign / wallMs),
      machineCores: round(machine / wallMs),
      load1: [round(this.load1Start), round(loadavg()[0]!)],
    };
  }
}

/**
 * Waits (up to `maxMs`) until the machine is quiet: less than `threshold` cores busy over
 * a window of 1-3 seconds. Returns what it saw last.
 */
export async function waitForQuiet(threshold: number, maxMs: number, log: (line: string) => void): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const window = Math.min(3_000, Math.max(1_000, maxMs / 3));
    const a = machineCpuMs();
    await new Promise((r) => setTimeout(r, window));
    const b = machineCpuMs();
    const cores = (b.busy - a.busy) / window;
    if (cores < threshold || Date.now() >= deadline) {
      if (cores >= threshold) log(`machine still busy (${cores.toFixed(2)} cores in use by others); measuring anyway`);
      return cores;
    }
    log(`waiting for a quiet machine: ${cores.toFixed(2)} cores busy`);
  }
}
