import { describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';

// Redis with AOF appendfsync always: every acknowledged write survives its SIGKILL.
const h = useBroker({}, { appendfsync: 'always' });

describe('Redis outage', () => {
  it('answers UNAVAILABLE, keeps sessions and leases, and resumes by itself', async () => {
    const worker = await h.worker({ queues: ['outage'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'outage' });
    const [lease] = await worker.take(1);

    await h.redis.kill();
    const refused = (await h.enqueue({ tenant: 'acme', queue: 'outage' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as ServiceError;
    expect(refused.code).toBe(status.UNAVAILABLE);
    expect(refused.details).toMatch(/^Redis is unreachable \(.*\); retry later$/);
    // The operator calls that walk a queue in steps say so as well, at their
    // first step; those that take jobs add how far they got.
    const [listing, purge, deletion] = [
      h.listJobs({ tenant: 'acme', queue: 'outage', state: 'WAITING' }),
      h.purge({ tenant: 'acme', queue: 'outage' }),
      h.deleteDead({ tenant: 'acme', queue: 'outage', all: true }),
    ].map((attempt) =>
      attempt.then(
        () => undefined,
        (e: unknown) => e as ServiceError,
      ),
    );
    for (const [attempt, suffix] of [
      [listing, ''],
      [
        purge,
        '; the purge stopped after 0 jobs were cancelled: call PurgeQueue again to cancel the rest',
      ],
      [
        deletion,
        '; the delete stopped after 0 dead jobs were deleted: call DeleteDeadLetters again to delete the rest',
      ],
    ] as const) {
      expect(await attempt).toMatchObject({ code: status.UNAVAILABLE });
      expect((await attempt)?.details).toMatch(/^Redis is unreachable \(.*\); retry later/);
      expect((await attempt)?.details.replace(/^.*; retry later/, '')).toBe(suffix);
    }
    worker.complete(lease!, Buffer.from('done during the outage')); // kept and written once Redis is back
    await new Promise((resolve) => setTimeout(resolve, 2000)); // longer than the lease TTL
    await h.redis.restart();

    const job = await h.waitState('acme', job_id, 'COMPLETED', 15_000);
    expect(job.attempts).toBe(1);
    expect(job.result.toString()).toBe('done during the outage');
    expect(worker.ended).toBe(false);
    const after = await h.enqueue({ tenant: 'acme', queue: 'outage' });
    const [next] = await worker.take(1, 15_000);
    expect(next!.job_id).toBe(after.job_id);
    worker.complete(next!); // the next test's shutdown waits for held leases
    await h.waitState('acme', after.job_id, 'COMPLETED');
  });

  it('times a job out once Redis is back when its timeout passed while Redis was down', async () => {
    // The timeout fires once per lease, and the sweep only expires the leases
    // of closed sessions: a failed write of the timeout must be retried, or
    // the job stays leased and the worker's slot is lost.
    const worker = await h.worker({ queues: ['late-timeout'], capacity: 1 });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'late-timeout',
      timeout_ms: 1000,
      max_attempts: 3,
      backoff: { initial_ms: 1 },
    });
    const [first] = await worker.take(1);
    await h.redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 2500)); // the timeout fires, its write fails
    expect(worker.cancels()).toEqual([]);
    await h.redis.restart();

    await expect.poll(() => worker.cancels(), { timeout: 15_000 }).toEqual([job_id]);
    const [retry] = await worker.take(1, 15_000); // the slot is free again
    expect(retry!.job_id).toBe(job_id);
    expect(retry!.attempt).toBe(2);
    expect(retry!.lease_token).not.toBe(first!.lease_token);
    expect((await h.getJob('acme', job_id)).last_error).toBe('timed out after 1000 ms');
    expect(worker.ended).toBe(false);
    worker.complete(retry!); // the next test's shutdown waits for held leases
    await h.waitState('acme', job_id, 'COMPLETED');
  });

  it('leaves an orphaned lease to expire when the Hello that names it fails on Redis', async () => {
    const first = await h.worker({ queues: ['hello-outage'], capacity: 1 });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'hello-outage',
      max_attempts: 3,
      backoff: { initial_ms: 1 },
    });
    const [lease] = await first.take(1);
    first.drop(); // its lease is an orphan of this broker
    await h.redis.kill();
    // Back during the outage, with a lease this broker does not know (looked up in Redis).
    const back = RawWorker.open(h.broker.address, {
      worker_id: 'back',
      queues: ['hello-outage'],
      capacity: 1,
      in_flight: [
        { job_id, lease_token: lease!.lease_token, tenant: 'acme' },
        { job_id: 'held-elsewhere', lease_token: 'x', tenant: 'acme' },
      ],
    });
    const refused = await back.waitStatus();
    expect(refused.code).toBe(status.UNAVAILABLE);
    expect(refused.details).toMatch(/^Redis is unreachable \(.*\); retry later$/);
    back.drop();
    await h.redis.restart();

    // That worker never comes back: the orphan expires as a failed attempt and runs again.
    const heir = await h.worker({ queues: ['hello-outage'], capacity: 1 });
    const [retry] = await heir.take(1, 15_000);
    expect(retry!.job_id).toBe(job_id);
    expect(retry!.attempt).toBe(2);
    expect((await h.getJob('acme', job_id)).last_error).toMatch(/^lease expired/);
    heir.complete(retry!); // the next test's shutdown waits for held leases
    await h.waitState('acme', job_id, 'COMPLETED');
  });

  it('keeps a draining broker up until an ack that waits for Redis is recorded', async () => {
    // An acked lease leaves its session's slots before Redis has the outcome;
    // a shutdown must still wait for that write, or the job would run again.
    const worker = await h.worker({ queues: ['drain'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'drain' });
    const [lease] = await worker.take(1);
    await h.redis.kill();
    worker.complete(lease!, Buffer.from('acked while Redis was down'));
    const stopped = h.broker.shutdown(10_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the write fails and is retried
    await h.redis.restart();
    await stopped;

    await h.restartBroker();
    const job = await h.getJob('acme', job_id);
    expect(job.state).toBe('COMPLETED');
    expect(job.result.toString()).toBe('acked while Redis was down');
  });
});
