/**
 * Kernels started ahead of the runs that will use them: starting a Python kernel costs
 * about half a second, more than a hundred trivial cells' worth of orchestration. A
 * long-running worker keeps `size` idle kernels per kernel name it has been asked for,
 * each connected, with its execution registry installed; a run takes one by moving its
 * Jupyter session to `millrace/<run id>`, and the pool starts a replacement.
 *
 * Container kernels (`run --image`) are pooled per shape: a run takes a warm container
 * only of the same kernelspec, image, CPUs, memory, variables and mounts, the placement
 * the pool wrote for it as it started (worker/container_provisioner.py). Each pooled kernel
 * serves one run: the run shuts it down at its end, as any kernel it started.
 *
 * An idle kernel sits in a session `millrace/pool-<uuid>`, which no run has: every
 * worker's orphan reaper shuts such a kernel down once it has been idle past the grace
 * period. The owning worker keeps its own kernels active with a kernel_info request
 * every KEEP_ALIVE_MS, so only the pools of dead workers are reaped.
 */
import { ServerConnection, type Kernel } from '@jupyterlab/services';
import { randomUUID } from 'node:crypto';
import { moveSession, shutdownKernel } from './jupyter.js';
import type { KernelPlacement } from '../workflows/contracts.js';
import { startPlacedKernel } from './kernel-lifecycle.js';
import { startVariables } from './gateway-placement.js';

/** Well inside the orphan reaper's grace period (60 s by default). */
const KEEP_ALIVE_MS = 20_000;

export interface PooledKernel {
  model: Kernel.IModel;
  /** Its Jupyter session, moved to the run that takes it. */
  sessionId?: string;
  connection: Kernel.IKernelConnection;
  languageInfo: Record<string, unknown>;
  outcomeRegistry: boolean;
  cellGate: boolean;
}

/** What makes two kernels interchangeable: the kernelspec and, for a container, its whole placement. */
export function poolKey(kernelName: string, placement?: KernelPlacement): string {
  if (!placement?.image) return kernelName;
  const { image, cpus, memory, env, mounts } = placement;
  const sortedEnv = Object.entries(env ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([kernelName, image, cpus ?? null, memory ?? null, sortedEnv, mounts ?? []]);
}

export class KernelPool {
  /** Idle kernels by poolKey. */
  private readonly idle = new Map<string, PooledKernel[]>();
  /** The placement of each container key, to start its replacements with. */
  private readonly shapes = new Map<string, { kernelName: string; placement?: KernelPlacement }>();
  private readonly starting = new Map<string, number>();
  /** Kernels started once, ahead of the one run that will take them (`prestart`). */
  private readonly early = new Map<string, Promise<PooledKernel>>();
  private readonly keepAlive: NodeJS.Timeout;
  private stopped = false;
  /** The server cannot move a session (Jupyter Kernel Gateway): the pool keeps no kernels. */
  private off = false;

  constructor(
    private readonly settings: ServerConnection.ISettings,
    readonly size: number,
    private readonly warn: (line: string) => void = () => undefined,
    /** Where placements go for millrace's own Jupyter Server; without it, no container kernels are pooled. */
    private readonly placementsDir?: string,
    /** On Enterprise Gateway, the user kernels start for (KERNEL_USERNAME, activities/gateway-placement.ts). */
    private readonly kernelUsername?: string,
  ) {
    this.keepAlive = setInterval(() => this.touchIdle(), KEEP_ALIVE_MS);
    this.keepAlive.unref();
  }

  /**
   * Starts one kernel of that name (in a container, with a placement) now, not replaced once taken: a one-shot `millrace run`
   * starts its run's kernel while the Temporal server and the worker come up. A run that
   * asks for it while it still starts waits for it rather than starting another.
   */
  prestart(kernelName: string, placement?: KernelPlacement): void {
    if (placement?.image && !this.placementsDir) return;
    const key = poolKey(kernelName, placement);
    const kernel = this.startOne(kernelName, placement);
    // One that fails to start is forgotten: the run starts its own and says why.
    kernel.catch(() => this.early.delete(key));
    this.early.set(key, kernel);
  }

  /**
   * An idle kernel of that name (and placement, for a container), now in the run's session;
   * undefined when none is ready. The first ask for a key fills the pool for it.
   */
  async take(kernelName: string, runId: string, placement?: KernelPlacement): Promise<PooledKernel | undefined> {
    const key = poolKey(kernelName, placement);
    if (placement?.image && !this.placementsDir) return undefined;
    if (!this.shapes.has(key)) this.shapes.set(key, { kernelName, ...(placement?.image ? { placement } : {}) });
    const ready = this.idle.get(key) ?? [];
    this.idle.set(key, ready);
    const early = this.early.get(key);
    if (early) this.early.delete(key);
    if (early) ready.push(...(await early.then((kernel) => [kernel]).catch(() => [])));
    try {
      for (let kernel = ready.shift(); kernel; kernel = ready.shift()) {
        if (kernel.connection.isDisposed || kernel.connection.status === 'dead') continue;
        try {
          await moveSession(this.settings, kernel.model.id, kernel.sessionId, runId);
          return kernel;
        } catch (err) {
          await shutdownKernel(this.settings, kernel.model.id).catch(() => undefined);
          // A kernel left in its pool session could be reaped mid-run (the session names no
          // run): a server that refuses the move gets no pool at all.
          if (err instanceof ServerConnection.ResponseError) {
            await this.turnOff(`the Jupyter server at ${this.settings.baseUrl} cannot move a kernel's session (${err.response.status}; Jupyter Kernel Gateway cannot): the kernel pool is off, each run starts its own kernel`);
            return undefined;
          }
        }
      }
      return undefined;
    } finally {
      this.refill(key);
    }
  }

  private async turnOff(warning: string): Promise<void> {
    if (this.off) return;
    this.off = true;
    this.warn(warning);
    await this.shutDownIdle();
  }

  /** Ids of the kernels of that name (and placement) that are ready to be taken, oldest first. */
  idleKernelIds(kernelName: string, placement?: KernelPlacement): string[] {
    return (this.idle.get(poolKey(kernelName, placement)) ?? []).map((k) => k.model.id);
  }

  /** Shuts the idle kernels down (worker shutdown); kernels being started follow when ready. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.keepAlive);
    // Kernels started early for one run (`prestart`) that no run took go with the idle ones.
    const early = await Promise.all([...this.early.values()].map((kernel) => kernel.then((k) => [k]).catch(() => [])));
    this.early.clear();
    await this.shutDownIdle(early.flat());
  }

  private async shutDownIdle(also: PooledKernel[] = []): Promise<void> {
    const all = [...this.idle.values(), also].flat();
    this.idle.clear();
    await Promise.all(all.map((k) => shutdownKernel(this.settings, k.model.id).catch(() => undefined)));
  }

  private refill(key: string): void {
    const { kernelName, placement } = this.shapes.get(key)!;
    const have = () => (this.idle.get(key)?.length ?? 0) + (this.starting.get(key) ?? 0);
    while (!this.stopped && !this.off && have() < this.size) {
      this.starting.set(key, (this.starting.get(key) ?? 0) + 1);
      this.startOne(kernelName, placement)
        .then(async (kernel) => {
          if (this.stopped || this.off) return shutdownKernel(this.settings, kernel.model.id);
          this.idle.get(key)!.push(kernel);
        })
        // A pool that cannot start kernels just stays empty: runs start their own and say why.
        .catch(() => undefined)
        .finally(() => this.starting.set(key, this.starting.get(key)! - 1));
    }
  }

  private async startOne(kernelName: string, placement?: KernelPlacement): Promise<PooledKernel> {
    const container = placement?.image && this.placementsDir ? { placement, placementsDir: this.placementsDir } : undefined;
    return startPlacedKernel(this.settings, kernelName, `pool-${randomUUID()}`, container, undefined, await startVariables(this.settings, this.kernelUsername));
  }

  private touchIdle(): void {
    for (const kernel of [...this.idle.values()].flat()) {
      kernel.connection.requestKernelInfo().catch(() => undefined);
    }
  }
}
