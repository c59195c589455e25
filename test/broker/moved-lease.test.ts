/**
 * A lease a worker re-attaches to another session while the session that held
 * it is still open: the old session, and the broker it is on, let go of it at
 * once. A (the harness's broker) and B share one Redis.
 */
import { describe, expect, it } from 'vitest';
import { useBroker, usePeer } from '../helpers/harness.js';

const h = useBroker();
const peer = usePeer(h);

describe('a lease moved away from a session still open', () => {
  it('frees its slots on the broker it left: the tenant cap and the old session run the next job', async () => {
    await h.setTenant({ tenant: 'moved', max_in_flight: 1 });
    // The old session keeps heartbeating: A never takes it for dead.
    const onA = await h.worker({ queues: ['moved'], capacity: 1 });
    const first = await h.enqueue({ tenant: 'moved', queue: 'moved' });
    const [lease] = await onA.take(1);
    expect(lease!.job_id).toBe(first.job_id);

    const onB = await peer.reattach('moved', 'moved', lease!);
    expect((await onB.welcome()).reattached_job_ids).toEqual([first.job_id]);
    onB.send({ drain: {} }); // the next job can only go to A's session
    onB.complete(lease!);
    await h.waitState('moved', first.job_id, 'COMPLETED');

    // A counted the moved lease in the tenant's max_in_flight of 1 and in its
    // session's capacity of 1 for as long as that session lived: the next job
    // of the tenant went nowhere.
    const second = await h.enqueue({ tenant: 'moved', queue: 'moved' });
    const [next] = await onA.take(1, 5000);
    expect(next!.job_id).toBe(second.job_id);
    expect(onA.cancels()).toEqual([first.job_id]);
    onA.complete(next!);
    await h.waitState('moved', second.job_id, 'COMPLETED');
  });

  it('tells the session it left on the same broker to stop the job', async () => {
    const old = await h.worker({ queues: ['moved-here'], capacity: 1 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'moved-here' });
    const [lease] = await old.take(1);
    const now = await h.worker({
      queues: ['moved-here'],
      capacity: 1,
      in_flight: [{ job_id, lease_token: lease!.lease_token, tenant: 'acme' }],
    });
    expect((await now.welcome()).reattached_job_ids).toEqual([job_id]);
    // The old session, still open, was told nothing and ran the job on beside
    // the new one.
    await expect
      .poll(() => old.messages.find((m) => m.cancel?.job_id === job_id)?.cancel)
      .toEqual({ job_id, reason: 'lease lost' });
    expect(now.cancels()).toEqual([]);
    now.complete(lease!);
    expect((await h.waitState('acme', job_id, 'COMPLETED')).attempts).toBe(1);
    expect(now.ackOutcomes()).toEqual([]);
  });
});
