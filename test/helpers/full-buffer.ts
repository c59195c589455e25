import type { QueueDispatcher } from '../../src/broker/dispatcher.js';
import { PREFETCH_MAX } from '../../src/broker/prefetch-buffers.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import type { RawWorker } from './raw-worker.js';

/** Resolves once the dispatcher's fetches, and the fetches their answers start, have answered. */
async function fetchesSettled(dispatcher: QueueDispatcher): Promise<void> {
  await dispatcher.fetchesAnswered();
  await new Promise((resolve) => setImmediate(resolve));
  await dispatcher.fetchesAnswered();
}

/**
 * Runs a lone tenant's jobs one at a time on `worker` (capacity 1) until its
 * buffer holds exactly its target (PREFETCH_MAX) while the worker holds a
 * lease, which is returned: the state in which new work finds the buffer full.
 * A refill tops the buffer up to its target when it falls to half, so at most
 * about half the target of jobs run first; the queue needs that many more.
 */
export async function holdWithBufferFull(
  dispatcher: QueueDispatcher,
  worker: RawWorker,
): Promise<Lease__Output> {
  let [held] = await worker.take(1);
  for (let run = 0; run <= PREFETCH_MAX; run++) {
    await fetchesSettled(dispatcher);
    if (dispatcher.prefetchUse().jobs === PREFETCH_MAX) return held!;
    worker.complete(held!);
    [held] = await worker.take(1);
  }
  throw new Error(`the buffer never held ${PREFETCH_MAX} jobs; enqueue more`);
}
