import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';

const h = useBroker();

describe('direct dispatch of a session serving several queues', () => {
  it('serves the job another queue buffered while a fetch held the slots, once they come back', async () => {
    // The enqueue of queue a claims its job with direct slots: all the
    // session's free ones (up to 4). While that call is out, queue b's job
    // finds the session full and is buffered. When a's call answers, three
    // slots come back unused; b's job used to wait for the session's next ack,
    // and this worker acks nothing before it has both.
    const worker = await h.worker({ queues: ['a', 'b'], capacity: 4 });
    const store = h.broker.broker.store;
    const enqueue = store.enqueue.bind(store);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    store.enqueue = async (...args) => {
      const reply = await enqueue(...args);
      if (first) {
        first = false;
        await held; // a's answer waits until b's job is buffered
      }
      return reply;
    };
    try {
      const onA = h.enqueue({ tenant: 'acme', queue: 'a' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const onB = await h.enqueue({ tenant: 'acme', queue: 'b' });
      release();
      const { job_id: jobA } = await onA;
      const leases = await worker.take(2, 5000);
      expect(leases.map((lease) => lease.job_id).sort()).toEqual([jobA, onB.job_id].sort());
      for (const lease of leases) worker.complete(lease);
    } finally {
      store.enqueue = enqueue;
    }
  });
});
