/**
 * Work an activity starts but does not wait for: the worker awaits it before it exits,
 * so a stopping worker does not drop it half-done. Today that is kernel shutdowns, which
 * Jupyter answers only once the kernel process has exited (0.3-2 s), a wait that is no
 * part of a run's result.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<void>>();

  /** Runs `work` in the background; a failure goes to `onError` (the activity's logger). */
  add(work: () => Promise<unknown>, onError: (err: unknown) => void): void {
    const running: Promise<void> = work()
      .then(() => undefined)
      .catch(onError)
      .finally(() => this.pending.delete(running));
    this.pending.add(running);
  }

  /** Resolves when everything added so far has ended. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}
