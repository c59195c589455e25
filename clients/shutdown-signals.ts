/**
 * Workers' graceful close on process signals, with one process listener per
 * signal for every Worker of the process. Why not a listener each: past ten
 * Workers in one process (a worker pool, one Worker per queue) Node warned
 * MaxListenersExceededWarning, a possible leak, on every start.
 */
const closers = new Map<NodeJS.Signals, { listener: () => void; closes: Set<() => void> }>();

/**
 * Calls `close` on each of `signals` until the returned function is called.
 * Once no Worker listens to a signal, its listener goes too, so the signal
 * does again what it did before (SIGINT and SIGTERM end the process).
 */
export function closeOnSignals(signals: readonly NodeJS.Signals[], close: () => void): () => void {
  for (const signal of signals) {
    let entry = closers.get(signal);
    if (entry === undefined) {
      const closes = new Set<() => void>();
      entry = { listener: () => [...closes].forEach((each) => each()), closes };
      closers.set(signal, entry);
      process.on(signal, entry.listener);
    }
    entry.closes.add(close);
  }
  return () => {
    for (const signal of signals) {
      const entry = closers.get(signal);
      if (entry === undefined || !entry.closes.delete(close) || entry.closes.size > 0) continue;
      process.off(signal, entry.listener);
      closers.delete(signal);
    }
  };
}
