/**
 * Resident memory of process trees, sampled from /proc (Linux only): each tick reads the
 * parent of every process, expands the watched roots to their descendants, and sums
 * VmRSS. Peaks are of the sum at one instant, not sums of per-process peaks.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** pid → parent pid, for every process visible now. */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(rest[1]));
    } catch {
      // The process ended between readdir and read.
    }
  }
  return parents;
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

/** VmRSS in KiB, 0 when the process is gone (or a zombie). */
export function rssKiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export interface GroupPeak {
  /** Peak of the group's summed RSS, MiB. */
  peakMiB: number;
  /** Most processes seen in the group at once. */
  maxProcesses: number;
}

/** A group: its root pids (re-read at every tick) and whether their descendants count. */
export interface Group {
  roots: () => number[];
  /** Default true; false counts the roots alone (the bench process, whose children are servers). */
  tree?: boolean;
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
      this.peaks.set(name, { peakMiB: Math.max(peak.peakMiB, sumMiB), maxProcesses: Math.max(peak.maxProcesses, pids.length) });
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
