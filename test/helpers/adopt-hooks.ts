/**
 * Hooks that hold a broker's re-attachment of a lease at one step, so a test
 * can cancel the job there: around its adopt.lua call (JobStore.adopt), and
 * on the cancellations it hears (LeaseManager.revoke: its own CancelJob, and
 * those announced on the cancellations channel). Each returns its undo.
 */
import type { TestBroker } from './broker.js';

/** Runs `before` and `after` around the broker's next adopt.lua call. */
export function aroundAdopt(
  broker: TestBroker,
  { before, after }: { before?: () => Promise<void>; after?: () => Promise<void> },
): () => void {
  const store = broker.broker.store;
  const adopt = store.adopt.bind(store);
  store.adopt = async (...args) => {
    store.adopt = adopt;
    await before?.();
    const won = await adopt(...args);
    await after?.();
    return won;
  };
  return () => (store.adopt = adopt);
}

/** `heard` resolves once the broker has heard of `jobId`'s cancellation `times` times. */
function hearsCancel(
  broker: TestBroker,
  jobId: string,
  times = 1,
): { heard: Promise<void>; undo: () => void } {
  const { leases } = broker.broker;
  const revoke = leases.revoke.bind(leases);
  let count = 0;
  const heard = new Promise<void>((resolve) => {
    leases.revoke = (id, reason) => {
      revoke(id, reason);
      if (id === jobId && ++count === times) resolve();
    };
  });
  return { heard, undo: () => (leases.revoke = revoke) };
}

/**
 * Cancels `jobId` by `cancel` just before or just after the broker's next
 * adopt.lua call, and lets the Hello go on only once the broker has heard of
 * the cancellation `times` times.
 */
export function cancelAroundAdopt(
  broker: TestBroker,
  jobId: string,
  when: 'before' | 'after',
  cancel: () => Promise<{ cancelled: boolean }>,
  times = 1,
): () => void {
  const { heard, undo: unhear } = hearsCancel(broker, jobId, times);
  const step = async (): Promise<void> => {
    if (!(await cancel()).cancelled) throw new Error(`job ${jobId} was not cancelled`);
    await heard;
  };
  const unhook = aroundAdopt(broker, when === 'before' ? { before: step } : { after: step });
  return () => {
    unhook();
    unhear();
  };
}
