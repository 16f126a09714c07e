/**
 * A small supervisor for the servers of the embedded stack (Temporal dev server, Jupyter
 * Server): output to a log file in the state directory, readiness polling that reports
 * the log when a server dies or hangs, and a stop that is graceful first and certain in
 * the end.
 *
 * Children run in their own session (`detached`), so a Ctrl-C on the terminal reaches
 * only us and we stop them in order. Their descendants may leave that process group:
 * Jupyter starts every kernel in a new session, and kernels are re-parented to init when
 * the server dies. So each child gets a tag in its environment, inherited by everything
 * it starts, and stopping sweeps every process carrying the tag (on Linux, through
 * /proc; elsewhere by parent pid).
 *
 * While any child is alive, SIGINT, SIGTERM and SIGHUP stop all children and then
 * re-raise the signal, so the exit status is the usual 130/143/129 — unless the program
 * has its own listener for that signal, which then owns the shutdown (and stops the
 * stack itself). On process exit, children get SIGTERM and a detached reaper sends
 * SIGKILL to whatever is left a few seconds later. A SIGKILL of this process runs none of
 * that: children are started through worker/tied_launcher.py, which has the kernel kill
 * them when we die (Linux), and can hold a lock file for their life.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot, venvPython } from './paths.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Names the log file (`<stateDir>/logs/<name>.log`) and the process in messages. */
  name: string;
  command: string;
  /** Never put secrets here: arguments are visible in `ps` and written to the log. */
  args: readonly string[];
  stateDir: string;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How long `stop()` waits after SIGTERM before SIGKILL (default 10 s). */
  stopGraceMs?: number;
  /**
   * An exclusive lock on this file, held for the child's life: while one child holds
   * it, another with the same lock file exits at once and `waitFor` throws a
   * `LockHeldError` naming the holder.
   */
  lockFile?: string;
}

/** A second server on state that another one holds (see SpawnOptions.lockFile): one line. */
export class LockHeldError extends Error {}

/** tied_launcher.py's exit code when the lock is held. */
const LOCKED_EXIT = 75;

export interface WaitOptions {
  timeoutMs: number;
  /** What is awaited, for messages: "the Temporal frontend to answer". */
  what: string;
  intervalMs?: number;
}

export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the child itself exits (its descendants may live on until `stop()`). */
  readonly exited: Promise<ExitStatus>;
  exitStatus(): ExitStatus | undefined;
  /** The last lines this child wrote to its log. */
  logTail(lines?: number): string;
  /** What this child wrote to its log so far. */
  logText(): string;
  /**
   * Polls `condition` until it returns true. Fails with the log's last lines when the
   * child exits first or `timeoutMs` passes; a condition that throws counts as not yet.
   */
  waitFor(condition: () => boolean | Promise<boolean>, options: WaitOptions): Promise<void>;
  /** SIGTERM, SIGKILL after the grace period, then every leftover descendant. Idempotent. */
  stop(): Promise<void>;
}

const TAG_VARIABLE = 'MILLRACE_SUPERVISOR_TAG';
const DEFAULT_STOP_GRACE_MS = 10_000;
const LEFTOVER_GRACE_MS = 2_000;
const MAX_LOG_BYTES = 8 * 1024 * 1024;

const live = new Set<Supervised>();

export function logPathFor(stateDir: string, name: string): string {
  return join(stateDir, 'logs', `${name}.log`);
}

/** Starts `command` in its own session with output appended to its log file. */
export async function spawnSupervised(options: SpawnOptions): Promise<SupervisedProcess> {
  const logPath = logPathFor(options.stateDir, options.name);
  mkdirSync(join(options.stateDir, 'logs'), { recursive: true, mode: 0o700 });
  rotateIfLarge(logPath);
  const fd = openSync(logPath, 'a', 0o600);
  let child;
  let logOffset: number;
  const tag = `${options.name}-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    writeSync(fd, `--- ${new Date().toISOString()} ${options.name}: ${[options.command, ...options.args].join(' ')}\n`);
    logOffset = fstatSync(fd).size;
    // The launcher execs the command: the pid is the command's, its argv follows ours.
    const launcher = [
      '-I',
      '-S',
      join(packageRoot(), 'worker', 'tied_launcher.py'),
      String(process.pid),
      options.lockFile ?? '-',
      options.command,
    ];
    child = spawn(venvPython(), [...launcher, ...options.args], {
      cwd: options.cwd,
      env: { ...(options.env ?? process.env), [TAG_VARIABLE]: tag },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`cannot start ${options.name} (${options.command}): ${err.message}`)));
  });
  const supervised = new Supervised(options, child.pid!, tag, logPath, logOffset, new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  }));
  live.add(supervised);
  installHandlers();
  return supervised;
}

/** Stops every supervised child, in parallel. */
export async function stopAllSupervised(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

class Supervised implements SupervisedProcess {
  private status: ExitStatus | undefined;
  private stopping: Promise<void> | undefined;
  private readonly stopGraceMs: number;

  constructor(
    options: SpawnOptions,
    readonly pid: number,
    readonly tag: string,
    readonly logPath: string,
    private readonly logOffset: number,
    readonly exited: Promise<ExitStatus>,
  ) {
    this.name = options.name;
    this.stopGraceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    void exited.then((status) => (this.status = status));
  }

  readonly name: string;

  exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  logText(): string {
    try {
      const fd = openSync(this.logPath, 'r');
      try {
        const size = fstatSync(fd).size;
        // Only the last 64 KB matter for messages; the file may be large.
        const start = Math.max(this.logOffset, size - 64 * 1024);
        const buffer = Buffer.alloc(Math.max(0, size - start));
        readSync(fd, buffer, 0, buffer.length, start);
        return buffer.toString('utf8');
      } finally {
        closeSync(fd);
      }
    } catch {
      return '';
    }
  }

  logTail(lines = 20): string {
    return this.logText().trimEnd().split('\n').slice(-lines).join('\n');
  }

  async waitFor(condition: () => boolean | Promise<boolean>, options: WaitOptions): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    const interval = options.intervalMs ?? 100;
    let lastError: unknown;
    const exitedFirst = this.exited.then(() => 'exited' as const);
    for (;;) {
      if (this.status?.code === LOCKED_EXIT) {
        const line = this.logText().split('\n').find((l) => l.startsWith('millrace: '));
        if (line) throw new LockHeldError(line.slice('millrace: '.length));
      }
      if (this.status) throw this.failure(`exited (${describeExit(this.status)}) before ${options.what}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        const last = lastError instanceof Error ? ` (last attempt: ${lastError.message.split('\n')[0]})` : '';
        throw this.failure(`did not get ready within ${Math.round(options.timeoutMs / 1000)} s: timed out waiting for ${options.what}${last}`);
      }
      const timer = new AbortController();
      try {
        const outcome = await Promise.race([
          Promise.resolve().then(condition),
          exitedFirst,
          sleep(remaining, 'timeout' as const, { signal: timer.signal }),
        ]);
        if (outcome === true) return;
      } catch (err) {
        lastError = err;
      } finally {
        timer.abort();
      }
      await Promise.race([sleep(interval), exitedFirst]);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.stopNow().finally(() => {
      live.delete(this);
      if (live.size === 0) uninstallHandlers();
    });
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    if (!this.status) {
      // The leader first: Jupyter Server shuts its kernels down on SIGTERM, which it
      // cannot do if they are killed under it.
      signal(this.pid, 'SIGTERM');
      if (!(await exitsWithin(this.exited, this.stopGraceMs))) {
        signalGroup(this.pid, 'SIGKILL');
        await exitsWithin(this.exited, 5_000);
      }
    }
    await sweep(this);
  }

  private failure(reason: string): Error {
    const tail = this.logTail(20);
    const shown = tail ? `; last lines of ${this.logPath}:\n${tail.replace(/^/gm, '  | ')}` : ` (${this.logPath} is empty)`;
    return new Error(`${this.name} (pid ${this.pid}) ${reason}${shown}`);
  }
}

/** Whether `exited` settles within `ms`; the timer does not outlive the answer. */
async function exitsWithin(exited: Promise<ExitStatus>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([exited.then(() => true), sleep(ms, false, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

/** Kills what a child left behind: its process group and everything carrying its tag. */
async function sweep(child: Supervised): Promise<void> {
  let left = family(child);
  if (left.length === 0) return;
  for (const pid of left) signal(pid, 'SIGTERM');
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  while (Date.now() < deadline) {
    await sleep(50);
    left = left.filter(isAlive);
    if (left.length === 0) return;
  }
  for (const pid of left) signal(pid, 'SIGKILL');
  signalGroup(child.pid, 'SIGKILL');
}

export function describeExit(status: ExitStatus): string {
  return status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

// --- finding a child's family ----------------------------------------------------------

interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** Zombies are dead already; killing them is pointless. */
  zombie: boolean;
}

const HAS_PROC = process.platform === 'linux' && existsSync('/proc/self/stat');

function readProcessTable(): ProcessInfo[] {
  if (HAS_PROC) {
    const table: ProcessInfo[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        table.push({ pid: Number(entry), ppid: Number(fields[1]), pgid: Number(fields[2]), zombie: fields[0] === 'Z' });
      } catch {
        // exited while we were reading
      }
    }
    return table;
  }
  try {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
    return out
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .map(([pid, ppid, pgid, stat]) => ({ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), zombie: (stat ?? '').startsWith('Z') }));
  } catch {
    return [];
  }
}

/**
 * When the process `pid` started (field 22 of /proc/<pid>/stat, clock ticks since boot):
 * with the pid, it names one process, where a pid alone may have been reused. Undefined
 * without /proc or when there is no such process.
 */
export function processStartTime(pid: number): string | undefined {
  if (!HAS_PROC) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)" start at field 3: field 22 is the 20th of them.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function hasTag(pid: number, tag: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`${TAG_VARIABLE}=${tag}`);
  } catch {
    return false;
  }
}

/**
 * The live processes a child is responsible for: its process group, its descendants by
 * parent pid, and (on Linux) everything that inherited its tag, even when re-parented.
 */
function family(child: Supervised): number[] {
  const table = readProcessTable().filter((p) => !p.zombie && p.pid !== process.pid);
  const members = new Set<number>();
  for (const p of table) {
    if (p.pgid === child.pid || p.pid === child.pid) members.add(p.pid);
    else if (HAS_PROC && hasTag(p.pid, child.tag)) members.add(p.pid);
  }
  // Descendants by parent pid (the only way without /proc).
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of table) {
      if (!members.has(p.pid) && members.has(p.ppid)) {
        members.add(p.pid);
        grew = true;
      }
    }
  }
  return [...members];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (!HAS_PROC) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  signal(-pgid, sig);
}

function rotateIfLarge(logPath: string): void {
  try {
    if (statSync(logPath).size > MAX_LOG_BYTES) renameSync(logPath, `${logPath}.1`);
  } catch {
    // no log yet
  }
}

// --- process-wide handlers ---------------------------------------------------------------

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;
let signalled: NodeJS.Signals | undefined;

function installHandlers(): void {
  if (installed) return;
  installed = true;
  for (const sig of SIGNALS) process.on(sig, onSignal);
  process.on('exit', onExit);
}

function uninstallHandlers(): void {
  if (!installed || signalled) return;
  installed = false;
  for (const sig of SIGNALS) process.off(sig, onSignal);
  process.off('exit', onExit);
}

function onSignal(sig: NodeJS.Signals): void {
  // Someone else listens for this signal: the program owns its shutdown (e.g. `millrace
  // dev` stops the stack in order); the exit handler remains the safety net.
  if (process.listenerCount(sig) > 1) return;
  if (signalled) {
    // A second signal while stopping: no more patience.
    for (const child of live) for (const pid of family(child)) signal(pid, 'SIGKILL');
    reraise(sig);
    return;
  }
  signalled = sig;
  void stopAllSupervised().finally(() => reraise(sig));
}

/** Ends the process as the signal would have without our listener. */
function reraise(sig: NodeJS.Signals): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', onExit);
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  // Still here (someone started listening meanwhile, or the platform ignored it).
  process.exit(128 + (constants.signals[sig] ?? 1));
}

/**
 * Synchronous last resort on exit: SIGTERM to every child's family now, SIGKILL from a
 * detached reaper a few seconds later for whatever did not listen.
 */
function onExit(): void {
  const pids = new Set<number>();
  for (const child of live) {
    for (const pid of family(child)) pids.add(pid);
    signalGroup(child.pid, 'SIGTERM');
  }
  for (const pid of pids) signal(pid, 'SIGTERM');
  if (pids.size === 0 || process.platform === 'win32') return;
  try {
    const list = [...pids].join(' ');
    spawn('/bin/sh', ['-c', `sleep 5; kill -KILL ${list} 2>/dev/null; exit 0`], { detached: true, stdio: 'ignore' }).unref();
  } catch {
    // nothing more can be done while exiting
  }
}
