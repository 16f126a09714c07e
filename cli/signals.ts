/**
 * Calls `handler` on the first of `signals` to arrive; the function returned stops
 * listening. While it listens, the process does not die of those signals: the command
 * owns its shutdown (worker/process.ts then leaves the stack's children to it).
 */
export function onSignal(signals: readonly NodeJS.Signals[], handler: (signal: NodeJS.Signals) => void): () => void {
  const stop = () => {
    for (const s of signals) process.off(s, done);
  };
  const done = (signal: NodeJS.Signals) => {
    stop();
    handler(signal);
  };
  for (const s of signals) process.on(s, done);
  return stop;
}

/** Resolves on the first SIGINT or SIGTERM, so a foreground command can shut down in order. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => onSignal(['SIGINT', 'SIGTERM'], resolve));
}
