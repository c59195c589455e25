/**
 * A job cancelled while its worker re-attaches the lease, in each order the
 * two can meet: the worker is told, one way or the other, and never runs a
 * cancelled job to its end. A (the harness's broker) and B share one Redis;
 * each order is held in place by the hooks of adopt-hooks.ts.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import * as hooks from '../helpers/adopt-hooks.js';
import { useBroker, usePeer, type Harness } from '../helpers/harness.js';
import type { RawWorker } from '../helpers/raw-worker.js';

const h = useBroker();
const peer = usePeer(h);

let undo: Array<() => void> = [];
afterEach(() => {
  for (const restore of undo) restore();
  undo = [];
});

/** Cancels the job around the broker's next adopt.lua call (cancelAroundAdopt), undone after the test. */
function cancelAroundAdopt(...args: Parameters<typeof hooks.cancelAroundAdopt>): void {
  undo.push(hooks.cancelAroundAdopt(...args));
}

/** A job leased to a worker on A that then dropped its stream: A keeps the lease as an orphan. */
async function leasedThenDropped(queue: string): Promise<Lease__Output> {
  const first = await h.worker({ queues: [queue], capacity: 1 });
  await h.enqueue({ tenant: 'acme', queue });
  const [lease] = await first.take(1);
  first.drop();
  return lease!;
}

/** A worker re-attaching `lease` on A itself (the broker that holds it). */
function reattachHere(queue: string, lease: Lease__Output): Promise<RawWorker> {
  return h.worker({
    queues: [queue],
    capacity: 1,
    in_flight: [{ job_id: lease.job_id, lease_token: lease.lease_token, tenant: 'acme' }],
  });
}

/** The worker was told to stop the job, as cancelled, and holds nothing at the broker any more. */
async function toldCancelled(harness: Harness, worker: RawWorker, jobId: string): Promise<void> {
  await expect
    .poll(() => worker.messages.find((m) => m.cancel?.job_id === jobId)?.cancel)
    .toEqual({
      job_id: jobId,
      reason: 'cancelled',
    });
  expect((await harness.getJob('acme', jobId)).state).toBe('CANCELLED');
}

/** The re-attaching worker was refused the lease in Welcome. */
async function refused(worker: RawWorker, jobId: string): Promise<void> {
  const welcome = await worker.welcome();
  expect(welcome.reattached_job_ids).toEqual([]);
  expect(welcome.refused_job_ids).toEqual([jobId]);
}

/** The broker holds the worker's lease no more: its slot (capacity 1) takes the next job. */
async function slotFree(worker: RawWorker, queue: string): Promise<void> {
  const next = await h.enqueue({ tenant: 'acme', queue });
  const [taken] = await worker.take(1);
  expect(taken!.job_id).toBe(next.job_id);
  worker.complete(taken!);
  await h.waitState('acme', next.job_id, 'COMPLETED');
}

describe('a job cancelled while its lease moves to another broker', () => {
  it('cancelled before adopt.lua runs: the lease is refused in Welcome', async () => {
    const lease = await leasedThenDropped('cancel-first');
    cancelAroundAdopt(peer.broker, lease.job_id, 'before', () => h.cancel('acme', lease.job_id));
    await refused(await peer.reattach('cancel-first', 'acme', lease), lease.job_id);
  });

  // Cancelled on A, or on B itself (heard twice there: its own revoke, and
  // its announcement coming back over pub/sub).
  for (const [where, times] of [
    ['another broker', 1],
    ['the adopting broker itself', 2],
  ] as const) {
    it(`cancelled on ${where} after adopt.lua, heard before the lease is held: the worker is told`, async () => {
      const queue = `cancel-in-gap-${times}`;
      const lease = await leasedThenDropped(queue);
      const on = times === 1 ? h.broker : peer.broker;
      const cancel = (): Promise<{ cancelled: boolean }> => on.broker.cancel('acme', lease.job_id);
      cancelAroundAdopt(peer.broker, lease.job_id, 'after', cancel, times);
      const onB = await peer.reattach(queue, 'acme', lease);
      expect((await onB.welcome()).reattached_job_ids).toEqual([lease.job_id]);
      await toldCancelled(h, onB, lease.job_id);
      await slotFree(onB, queue);
    });
  }

  it('cancelled after adopt.lua, heard once the lease is held but before Welcome: the worker is told', async () => {
    // Only B's own CancelJob can land there (its continuation runs between
    // the Hello's last steps, which no Redis reply or pub/sub message can):
    // cancel.lua runs behind adopt.lua, and B hears of it as Welcome goes out.
    const lease = await leasedThenDropped('cancel-at-welcome');
    const { store, leases } = peer.broker.broker;
    undo.push(
      hooks.aroundAdopt(peer.broker, {
        after: async () => {
          expect((await store.cancel('acme', lease.job_id, Date.now())).kind).toBe('cancelled');
        },
      }),
    );
    const open = leases.open.bind(leases);
    leases.open = (hello, transport, caller) => {
      leases.open = open;
      const send: typeof transport.send = (message) => {
        if (message.kind === 'welcome') leases.revoke(lease.job_id, 'cancelled');
        transport.send(message);
      };
      return open(hello, { ...transport, send }, caller);
    };
    undo.push(() => (leases.open = open));
    const onB = await peer.reattach('cancel-at-welcome', 'acme', lease);
    expect((await onB.welcome()).reattached_job_ids).toEqual([lease.job_id]);
    await toldCancelled(h, onB, lease.job_id);
    await slotFree(onB, 'cancel-at-welcome');
  });

  it('cancelled once the new broker holds the lease: the worker is told', async () => {
    const lease = await leasedThenDropped('cancel-after');
    const onB = await peer.reattach('cancel-after', 'acme', lease);
    expect((await onB.welcome()).reattached_job_ids).toEqual([lease.job_id]);
    expect((await h.cancel('acme', lease.job_id)).cancelled).toBe(true);
    await toldCancelled(h, onB, lease.job_id);
  });

  it('cancelled after adopt.lua while the new broker did not listen: the worker is told once it listens again', async () => {
    // Its pub/sub connection drops as adopt.lua is answered, and the
    // announcement is lost (cancel.lua runs, nobody is told: as one published
    // while B was not subscribed). Subscribed again, B looks for the leases
    // it holds whose job was cancelled meanwhile, the one being re-attached too.
    const lease = await leasedThenDropped('cancel-unheard');
    const { leases } = peer.broker.broker;
    const catchUp = leases.catchUpAnnouncements.bind(leases);
    let listening!: () => void;
    const listensAgain = new Promise<void>((resolve) => (listening = resolve));
    leases.catchUpAnnouncements = () => {
      listening();
      return catchUp();
    };
    undo.push(() => (leases.catchUpAnnouncements = catchUp));
    const redis = new Redis(h.redis.url);
    undo.push(() => redis.disconnect());
    undo.push(
      hooks.aroundAdopt(peer.broker, {
        after: async () => {
          const store = h.broker.broker.store;
          expect((await store.cancel('acme', lease.job_id, Date.now())).kind).toBe('cancelled');
          await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
          await listensAgain;
        },
      }),
    );
    const onB = await peer.reattach('cancel-unheard', 'acme', lease);
    expect((await onB.welcome()).reattached_job_ids).toEqual([lease.job_id]);
    await toldCancelled(h, onB, lease.job_id);
    await slotFree(onB, 'cancel-unheard');
    // The kill dropped A's pub/sub connection too. Until it is back (ioredis's
    // backoff), A misses the cancellations of the tests below, and a hook
    // waiting for A to hear one held the Hello until the worker gave up.
    const channel = h.broker.broker.store.keys.cancellations();
    await expect
      .poll(async () => (await redis.pubsub('NUMSUB', channel))[1], { timeout: 10_000 })
      .toBe(2);
  });
});

describe('a job cancelled while its lease is taken over on the broker that holds it', () => {
  it('cancelled before adopt.lua runs: the lease is refused in Welcome', async () => {
    const lease = await leasedThenDropped('same-first');
    cancelAroundAdopt(h.broker, lease.job_id, 'before', () => h.cancel('acme', lease.job_id));
    await refused(await reattachHere('same-first', lease), lease.job_id);
  });

  it('cancelled on another broker after adopt.lua: the lease is refused in Welcome', async () => {
    const lease = await leasedThenDropped('same-gap');
    const cancel = (): Promise<{ cancelled: boolean }> =>
      peer.broker.broker.cancel('acme', lease.job_id);
    cancelAroundAdopt(h.broker, lease.job_id, 'after', cancel);
    await refused(await reattachHere('same-gap', lease), lease.job_id);
    expect((await h.getJob('acme', lease.job_id)).state).toBe('CANCELLED');
  });
});
