import type { BrokerContext } from './broker-context.js';

/**
 * An operator call emptied a tenant×queue of waiting jobs (a purge, a cancel):
 * when nothing of it waits, is held or is delayed, it leaves the queue's index
 * and its ready streams and levels go (JobStore.retire; else it stays). Why:
 * the keys of an idle tenant×queue went only when a broker's sweep found it
 * so, and a queue is swept only while a worker of it is connected (and for a
 * while after), so jobs enqueued to a queue nobody served yet, then cancelled
 * or purged, kept their keys (about 0.7 KB) for good. The call has done its
 * work by then: a failure here is logged and leaves the keys to a sweep.
 */
export async function retireIfEmptied(
  context: BrokerContext,
  tenant: string,
  queue: string,
): Promise<void> {
  try {
    await context.store.retire(queue, tenant);
  } catch (error) {
    context.logger.warn(
      { err: error, tenant, queue },
      'could not take an emptied tenant×queue out of the index; its keys stay until a recovery sweep finds it idle',
    );
  }
}
