import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { useBroker } from '../helpers/harness.js';
import { monitor } from '../helpers/monitor.js';
import { RawWorker } from '../helpers/raw-worker.js';

// lease TTL 1500 ms, heartbeat interval 300 ms (the harness defaults)
const h = useBroker();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('leases', () => {
  it('gives the jobs of a worker whose stream died to another worker after the lease TTL', async () => {
    const doomed = RawWorker.open(h.broker.address, {
      worker_id: 'doomed',
      queues: ['crash'],
      capacity: 5,
    });
    await doomed.welcome();
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'crash' });
    const [first] = await doomed.take(1);
    const diedAt = Date.now();
    doomed.drop();

    const heir = await h.worker({ queues: ['crash'] });
    const [second] = await heir.take(1, 8000);
    expect(second!.job_id).toBe(job_id);
    expect(second!.attempt).toBe(2);
    expect(second!.lease_token).not.toBe(first!.lease_token);
    expect(Date.now() - diedAt).toBeGreaterThanOrEqual(1500);
    const job = await h.getJob('acme', job_id);
    expect(job.last_error).toMatch(/lease expired/);
    heir.complete(second!);
    await h.waitState('acme', job_id, 'COMPLETED');
  });

  // A job may run for minutes, and the broker holds the leases of all its
  // workers: a lease must not keep the payload its worker already has.
  it('leases the next job as soon as the worker acks, ahead of writing the ack', async () => {
    // A slot held until Redis has the outcome idles for that round trip; busy
    // workers got their leases in lockstep with the complete script.
    const a = await h.enqueue({ tenant: 'acme', queue: 'handoff' });
    const b = await h.enqueue({ tenant: 'acme', queue: 'handoff' });
    const w = await h.worker({ queues: ['handoff'], capacity: 1 });
    const [first] = await w.take(1);
    expect(first!.job_id).toBe(a.job_id);
    // MONITOR lists the commands scripts run, in the order Redis runs them.
    const stateWrites: string[] = [];
    const stopMonitor = await monitor(h.redis.port, (args) => {
      const jobId = args[1]?.split(':job:')[1];
      const ours = jobId === a.job_id || jobId === b.job_id;
      if (ours && args[0]?.toUpperCase() === 'HSET' && args[2] === 'state') {
        stateWrites.push(`${jobId} ${args[3]}`);
      }
    });
    w.complete(first!);
    const [second] = await w.take(1);
    expect(second!.job_id).toBe(b.job_id);
    await h.waitState('acme', a.job_id, 'COMPLETED');
    stopMonitor();
    expect(stateWrites).toEqual([`${b.job_id} leased`, `${a.job_id} completed`]);
    w.complete(second!);
    await h.waitState('acme', b.job_id, 'COMPLETED');
  });

  it('hands a lease written for a worker that left before it was sent to another, as it is', async () => {
    const leaving = await h.worker({ queues: ['hand-on'], capacity: 1 });
    const staying = await h.worker({ queues: ['hand-on'], capacity: 1 });
    const redis = new Redis(h.redis.url);
    try {
      // Redis holds writes for a moment: the enqueue's claim leases the job for
      // the first worker (its slot is found first) while that worker goes away.
      await redis.call('CLIENT', 'PAUSE', '1000', 'WRITE');
      const enqueued = h.enqueue({ tenant: 'acme', queue: 'hand-on', max_attempts: 1 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      leaving.drop();
      const { job_id } = await enqueued;
      // Left to expire with the first worker's leases, it would have used up
      // its only attempt and gone to the dead letters without having run.
      const [lease] = await staying.take(1);
      expect([lease!.job_id, lease!.attempt]).toEqual([job_id, 1]);
      staying.complete(lease!);
      await h.waitState('acme', job_id, 'COMPLETED');
    } finally {
      redis.disconnect();
    }
  });

  it('refuses an ack with a stale token (fencing)', async () => {
    const silent = await h.worker({ queues: ['fence'], capacity: 1 }, { heartbeat: false });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'fence' });
    const [old] = await silent.take(1);
    // stays silent: its session dies, the lease expires and the job is leased again
    const other = await h.worker({ queues: ['fence'] });
    const [current] = await other.take(1, 8000);
    expect(current!.job_id).toBe(job_id);
    expect((await silent.waitStatus()).details).toMatch(/no message from the worker for 1500 ms/);
    silent.complete(old!, Buffer.from('late')); // on a closed stream: never recorded
    other.complete(old!, Buffer.from('late, via a live stream'));
    await expect.poll(() => other.ackOutcomes().map((o) => o.status)).toEqual(['ACK_STALE']);
    other.complete(current!, Buffer.from('on time'));
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.result.toString()).toBe('on time');
  });

  it('keeps a job leased well past the TTL while heartbeats arrive', async () => {
    const w = await h.worker({ queues: ['slow'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'slow' });
    const [lease] = await w.take(1);
    await sleep(4500); // three lease TTLs, heartbeating every 200 ms
    expect((await h.getJob('acme', job_id)).state).toBe('LEASED');
    expect(w.cancels()).toEqual([]);
    expect(w.messages.some((m) => m.heartbeat_ack)).toBe(true);
    w.complete(lease!);
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.attempts).toBe(1);
  });

  it('revokes a lease at the job timeout and tells the worker', async () => {
    const w = await h.worker({ queues: ['timeout'] });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'timeout',
      timeout_ms: 300,
      backoff: { initial_ms: 1 },
    });
    const [lease] = await w.take(1);
    expect(Number(lease!.deadline_unix_ms)).toBeGreaterThan(Date.now());
    await expect
      .poll(() => w.messages.find((m) => m.cancel?.job_id === job_id)?.cancel?.reason)
      .toBe('timeout');
    const [retry] = await w.take(1);
    expect(retry!.attempt).toBe(2);
    expect((await h.getJob('acme', job_id)).last_error).toBe('timed out after 300 ms');
    w.complete(retry!);
  });

  it('re-attaches in-flight leases when a worker reconnects', async () => {
    const first = await h.worker({ queues: ['reattach'], capacity: 2 });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'reattach' });
    const [lease] = await first.take(1);
    first.drop();
    const otherTenant = await h.worker({
      queues: ['reattach'],
      in_flight: [{ job_id, lease_token: lease!.lease_token, tenant: 'globex' }],
    });
    expect((await otherTenant.welcome()).refused_job_ids).toEqual([job_id]);
    const second = await h.worker({
      queues: ['reattach'],
      in_flight: [
        { job_id, lease_token: lease!.lease_token, tenant: 'acme' },
        { job_id: 'unknown-job', lease_token: 'x', tenant: 'acme' },
      ],
    });
    const welcome = await second.welcome();
    expect(welcome.reattached_job_ids).toEqual([job_id]);
    expect(welcome.refused_job_ids).toEqual(['unknown-job']);
    await sleep(2000); // past the TTL: a lease that was not re-attached would expire now
    second.complete(lease!, Buffer.from('ok'));
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.attempts).toBe(1);
  });

  it('records an ack sent right behind Hello when the stream half-closes before Welcome', async () => {
    const first = await h.worker({ queues: ['ack-behind-hello'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'ack-behind-hello' });
    const [lease] = await first.take(1);
    first.drop();
    // Re-attach, ack and say goodbye at once, as a worker that reconnects
    // only to report what finished while it was away.
    const second = RawWorker.open(h.broker.address, {
      worker_id: 'raw',
      queues: ['ack-behind-hello'],
      capacity: 1,
      in_flight: [{ job_id, lease_token: lease!.lease_token, tenant: 'acme' }],
    });
    second.complete(lease!, Buffer.from('done'));
    second.end();
    expect((await second.waitStatus()).code).toBe(status.OK);
    const job = await h.waitState('acme', job_id, 'COMPLETED', 4000);
    expect(job.attempts).toBe(1);
  });

  it('stops sending leases after Drain', async () => {
    const w = await h.worker({ queues: ['drain'] });
    w.send({ drain: {} });
    await sleep(50);
    await h.enqueue({ tenant: 'acme', queue: 'drain' });
    await sleep(300);
    expect(w.leases).toHaveLength(0);
    w.end();
    await expect.poll(() => w.status?.code).toBe(status.OK);
  });

  // A lease whose write was in flight when the worker's Drain came was sent to
  // it all the same. A worker with nothing else to run had ended its stream by
  // then, so the job waited out the lease TTL and came back a failed attempt.
  it('gives back a lease written while its worker drained, its attempt not counted', async () => {
    const first = await h.worker({ queues: ['drain-race'], capacity: 1 });
    await h.enqueue({ tenant: 'acme', queue: 'drain-race' });
    const [held] = await first.take(1);
    const { job_id: late } = await h.enqueue({ tenant: 'acme', queue: 'drain-race' });
    // Read ahead by the broker, for the slot the Credit below opens.
    await expect
      .poll(async () => (await h.stats({ queue: 'drain-race', tenant: 'acme' })).entries[0]?.leased)
      .toBe('2');
    const redis = new Redis(h.redis.url);
    try {
      // Redis runs nothing else meanwhile: the lease write waits while Drain is read.
      const busy = redis.eval(
        `local function ms() local t = redis.call('TIME') return t[1] * 1000 + t[2] / 1000 end
         local start = ms()
         repeat until ms() - start >= 500`,
        0,
      );
      await sleep(100);
      first.send({ credit: { capacity: 2 } });
      first.send({ drain: {} });
      await busy;
    } finally {
      redis.disconnect();
    }
    first.complete(held!);
    const second = await h.worker({ queues: ['drain-race'] });
    const [lease] = await second.take(1);
    expect(lease).toMatchObject({ job_id: late, attempt: 1 });
    expect(first.leases.map((l) => l.job_id)).not.toContain(late);
    first.end();
  });

  it('honours capacity and Credit', async () => {
    const w = await h.worker({ queues: ['credit'], capacity: 2 });
    for (let i = 0; i < 5; i++) await h.enqueue({ tenant: 'acme', queue: 'credit' });
    await w.take(2);
    await sleep(200);
    expect(w.leases).toHaveLength(2);
    w.send({ credit: { capacity: 5 } });
    await w.take(3);
  });

  // A worker whose slots are all held by handlers it could not stop.
  it('sends no leases after Credit 0, and keeps the session, until a Credit above 0', async () => {
    const w = await h.worker({ queues: ['paused'], capacity: 1 });
    w.send({ credit: { capacity: 0 } });
    await sleep(50);
    for (let i = 0; i < 2; i++) await h.enqueue({ tenant: 'acme', queue: 'paused' });
    await sleep(300);
    expect({ leases: w.leases.length, status: w.status }).toEqual({
      leases: 0,
      status: undefined,
    });
    w.send({ credit: { capacity: 2 } });
    await w.take(2);
  });
});

describe('protocol errors', () => {
  it('ends a stream whose first message is not Hello', async () => {
    const w = RawWorker.open(h.broker.address);
    w.heartbeat();
    const result = await w.waitStatus();
    expect(result.code).toBe(status.INVALID_ARGUMENT);
    expect(result.details).toBe('the first message on a Work stream must be Hello');
  });

  it('ends a stream that sends Hello twice', async () => {
    const w = await h.worker({ queues: ['dup'] });
    w.send({ hello: { worker_id: 'raw', queues: ['dup'], capacity: 1 } });
    const result = await w.waitStatus();
    expect(result.code).toBe(status.FAILED_PRECONDITION);
    expect(result.details).toBe('Hello was already sent on this stream');
  });

  it.each([
    [
      { worker_id: '', queues: ['q'], capacity: 1 },
      status.INVALID_ARGUMENT,
      'hello.worker_id must be 1 to 128 characters',
    ],
    [
      { worker_id: 'w', queues: [], capacity: 1 },
      status.INVALID_ARGUMENT,
      'hello.queues is empty; name at least one queue',
    ],
    [
      { worker_id: 'w', queues: Array.from({ length: 65 }, (_, i) => `q${i}`), capacity: 1 },
      status.INVALID_ARGUMENT,
      'hello.queues has 65 queues; the limit is 64',
    ],
    [
      { worker_id: 'w', queues: ['q'], tenants: ['acme', 'bad tenant'], capacity: 1 },
      status.INVALID_ARGUMENT,
      'hello.tenants[] is "bad tenant"; it must match [A-Za-z0-9_.-]{1,64}',
    ],
    [
      { worker_id: 'w', queues: ['q'], capacity: 0 },
      status.INVALID_ARGUMENT,
      'capacity is 0; it must be from 1 to 1000 (ROTA_MAX_SESSION_CAPACITY)',
    ],
    [
      { worker_id: 'w', queues: ['no/slash'], capacity: 1 },
      status.INVALID_ARGUMENT,
      'hello.queues[] is "no/slash"; it must match [A-Za-z0-9_.-]{1,64}',
    ],
    [
      { worker_id: 'w', queues: ['q'], capacity: 1, protocol_version: 2 },
      status.FAILED_PRECONDITION,
      'protocol_version 2 is not supported; this broker speaks 1. Use a matching client',
    ],
    [
      // A worker holds at most its capacity. Unbounded, 40,000 refs (480 KB)
      // blocked the broker's event loop for over 10 s (found by fuzzing).
      {
        worker_id: 'w',
        queues: ['q'],
        capacity: 1,
        in_flight: Array.from({ length: 1001 }, (_, i) => ({
          job_id: `j${i}`,
          lease_token: 't',
          tenant: 'acme',
        })),
      },
      status.INVALID_ARGUMENT,
      'hello.in_flight has 1001 leases; the limit is 1000 (ROTA_MAX_SESSION_CAPACITY), the most a session holds: name only the leases this worker still runs',
    ],
  ])('refuses a bad Hello %#', async (hello, code, details) => {
    const w = RawWorker.open(h.broker.address, hello);
    const result = await w.waitStatus();
    expect(result.code).toBe(code);
    expect(result.details).toBe(details);
  });

  it('ends a stream that sends a message with none of its fields set', async () => {
    const w = await h.worker({ queues: ['empty-message'] });
    w.send({});
    const result = await w.waitStatus();
    expect(result.code).toBe(status.INVALID_ARGUMENT);
    expect(result.details).toBe('empty WorkerMessage: set one of its fields');
  });

  // One message, so the second is read while the first is being written: it
  // must not be recorded as well.
  it('records one of two acks of a lease in one message, and refuses the other as stale', async () => {
    const w = await h.worker({ queues: ['double-ack'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'double-ack', max_attempts: 1 });
    const [lease] = await w.take(1);
    const { lease_token } = lease!;
    w.send({
      acks: {
        completed: [{ job_id, lease_token, result: Buffer.from('"first"') }],
        failed: [{ job_id, lease_token, message: 'second', retryable: false }],
      },
    });
    await expect
      .poll(() => w.ackOutcomes())
      .toEqual([
        { job_id, status: 'ACK_STALE', message: 'this lease is already being acknowledged' },
      ]);
    const job = await h.getJob('acme', job_id);
    expect(job.state).toBe('COMPLETED');
    expect(job.result.toString()).toBe('"first"');
    expect(job.last_error).toBe('');
    expect(w.ended).toBe(false);
  });

  it('reports an ack for an unknown job without ending the stream', async () => {
    const w = await h.worker({ queues: ['unknown-ack'] });
    w.send({ complete: { job_id: 'nope', lease_token: 'nope' } });
    await expect.poll(() => w.ackOutcomes()[0]?.status).toBe('ACK_STALE');
    w.heartbeat();
    await expect.poll(() => w.messages.some((m) => m.heartbeat_ack)).toBe(true);
    expect(w.ended).toBe(false);
  });
});
