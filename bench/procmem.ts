/**
 * Resident memory of process trees, sampled from /proc (Linux only): each tick reads the
 * parent of every process, expands the watched roots to their descendants, and sums
 * VmRSS. Peaks are of the sum at one instant, not sums of per-process peaks.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Every process visible now: pid → parent pid and CPU time used so far (user + system, ms). */
export function processTable(): Map<number, { ppid: number; cpuMs: number }> {
  const table = new Map<number, { ppid: number; cpuMs: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are in clock ticks of 10 ms.
      table.set(Number(entry), { ppid: Number(rest[1]), cpuMs: (Number(rest[11]) + Number(rest[12])) * 10 });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return table;
}

/** pid → parent pid, for every process visible now. */
function parentMap(): Map<number, number> {
  return new Map([...processTable()].map(([pid, p]) => [pid, p.ppid]));
}

export function descendants(roots: number[], parents = parentMap()): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = roots.filter((pid) => parents.has(pid));
  const seen = new Set<number>();
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** A `Field:  N kB` line of a /proc file of the process, KiB; 0 when the process is gone (or a zombie). */
function procKiB(pid: number, file: string, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS in KiB, 0 when the process is gone (or a zombie). */
export function rssKiB(pid: number): number {
  return procKiB(pid, 'status', 'VmRSS');
}

/**
 * Proportional set size in KiB (each shared page divided among the processes that map it),
 * 0 when the process is gone. Forked kernels share most of their pages with the warm process
 * they were forked from: their RSS summed counts those pages once per kernel, their PSS once.
 * About 0.5 ms a process to read (smaps_rollup walks the mappings), so sampled less often.
 */
export function pssKiB(pid: number): number {
  return procKiB(pid, 'smaps_rollup', 'Pss');
}

/** Every how many samples a group with `pss` reads its PSS. */
const PSS_EVERY = 5;

export interface GroupPeak {
  /** Peak of the group's summed RSS, MiB. */
  peakMiB: number;
  /** Peak of the group's summed PSS, MiB (groups with `pss`, every PSS_EVERY samples). */
  pssPeakMiB?: number;
  /** Most processes seen in the group at once. */
  maxProcesses: number;
}

/** A group: its root pids (re-read at every tick) and whether their descendants count. */
export interface Group {
  roots: () => number[];
  /** Default true; false counts the roots alone (the bench process, whose children are servers). */
  tree?: boolean;
  /** Also the peak of the summed PSS (pssKiB). */
  pss?: boolean;
}

/**
 * Samples named groups of processes every `intervalMs` until stop(). Processes may start
 * after the sampler: roots are re-read at every tick.
 */
export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly peaks = new Map<string, GroupPeak>();
  private totalPeakMiB = 0;
  samples = 0;

  constructor(
    private readonly groups: Record<string, Group>,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): void {
    const parents = parentMap();
    let total = 0;
    for (const [name, group] of Object.entries(this.groups)) {
      const pids = group.tree === false ? group.roots().filter((pid) => parents.has(pid)) : descendants(group.roots(), parents);
      const sumMiB = pids.reduce((sum, pid) => sum + rssKiB(pid), 0) / 1024;
      total += sumMiB;
      const peak = this.peaks.get(name) ?? { peakMiB: 0, maxProcesses: 0 };
      this.peaks.set(name, { ...peak, peakMiB: Math.max(peak.peakMiB, sumMiB), maxProcesses: Math.max(peak.maxProcesses, pids.length) });
      if (group.pss && this.samples % PSS_EVERY === 0) {
        const pssMiB = pids.reduce((sum, pid) => sum + pssKiB(pid), 0) / 1024;
        this.peaks.get(name)!.pssPeakMiB = Math.max(peak.pssPeakMiB ?? 0, pssMiB);
      }
    }
    this.totalPeakMiB = Math.max(this.totalPeakMiB, total);
    this.samples += 1;
  }

  stop(): { groups: Record<string, GroupPeak>; totalPeakMiB: number; samples: number } {
    clearInterval(this.timer);
    this.sample();
    return { groups: Object.fromEntries(this.peaks), totalPeakMiB: this.totalPeakMiB, samples: this.samples };
  }
}

/** Cumulative CPU time (user + system) of a process, ms; undefined when it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) are rest[11], rest[12]; clock ticks of 1/100 s on Linux.
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * CPU time spent by groups of processes over an interval: cumulative CPU of every process
 * seen is sampled every `intervalMs` (processes that exit keep their last sample), and the
 * difference from the start is summed per group.
 */
export class CpuSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly groupOf = new Map<number, string>();

  constructor(
    private readonly groups: Record<string, Group>,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), this.intervalMs);
    return this;
  }

  private sample(initial: boolean): void {
    const parents = parentMap();
    for (const [name, group] of Object.entries(this.groups)) {
      const pids = group.tree === false ? group.roots().filter((pid) => parents.has(pid)) : descendants(group.roots(), parents);
      for (const pid of pids) {
        const cpu = cpuMs(pid);
        if (cpu === undefined) continue;
        // A process first seen after the start counts from zero (it started in the interval).
        if (!this.first.has(pid)) this.first.set(pid, initial ? cpu : 0);
        this.last.set(pid, cpu);
        this.groupOf.set(pid, name);
      }
    }
  }

  /** CPU ms per group over the interval. */
  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample(false);
    const out: Record<string, number> = Object.fromEntries(Object.keys(this.groups).map((g) => [g, 0]));
    for (const [pid, last] of this.last) out[this.groupOf.get(pid)!]! += last - (this.first.get(pid) ?? 0);
    return out;
  }
}

/** CPU ms of each thread of a process, summed by thread name (comm), e.g. node's main thread vs. Rust runtime threads. */
export function threadCpuMs(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(rest[11]) + Number(rest[12])) * 10;
    } catch {
      // thread ended
    }
  }
  return out;
}

export function diffCounters(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}
