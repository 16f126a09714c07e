/**
 * The machine a benchmark ran on, and how busy it was with work that is not the
 * benchmark's (other users' processes share the cores and skew every latency).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { temporalBinary } from '../worker/paths.js';
import { pythonVersions } from './papermill.js';

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
 * Watches a section of the benchmark: machine-wide busy CPU against the CPU of the
 * benchmark's own processes (this one and all its descendants), so that load from
 * elsewhere (other users' builds and tests) is visible in the results.
 */
export class LoadWatch {
  private readonly start = machineCpuMs();
  private readonly ownStart: number;
  private readonly wallStart = performance.now();
  private readonly load1Start = loadavg()[0]!;

  constructor(private readonly ownCpuMs: () => number) {
    this.ownStart = ownCpuMs();
  }

  stop(): { wallS: number; foreignCores: number; ownCores: number; load1: [number, number] } {
    const end = machineCpuMs();
    const wallMs = performance.now() - this.wallStart;
    const busy = end.busy - this.start.busy;
    const own = this.ownCpuMs() - this.ownStart;
    const round = (n: number) => Math.round(n * 100) / 100;
    return {
      wallS: round(wallMs / 1000),
      // Cores' worth of CPU used by processes that are not the benchmark's.
      foreignCores: round(Math.max(0, busy - own) / wallMs),
      ownCores: round(own / wallMs),
      load1: [round(this.load1Start), round(loadavg()[0]!)],
    };
  }
}

/**
 * Waits (up to `maxMs`) until the machine is quiet: less than `threshold` cores busy over
 * a 3-second window. Returns what it saw last.
 */
export async function waitForQuiet(threshold: number, maxMs: number, log: (line: string) => void): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const a = machineCpuMs();
    await new Promise((r) => setTimeout(r, 3_000));
    const b = machineCpuMs();
    const cores = (b.busy - a.busy) / 3_000;
    if (cores < threshold || Date.now() >= deadline) {
      if (cores >= threshold) log(`machine still busy (${cores.toFixed(2)} cores in use by others); measuring anyway`);
      return cores;
    }
    log(`waiting for a quiet machine: ${cores.toFixed(2)} cores busy`);
  }
}
