import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { PrefetchUse } from '../../src/telemetry/metrics.js';
import { useBroker } from '../helpers/harness.js';
import { autoComplete, type RawWorker } from '../helpers/raw-worker.js';
import { eventually } from '../helpers/broker.js';

/**
 * The prefetch bound: however many tenants have work, a queue's buffers hold
 * at most --prefetch-jobs jobs and --prefetch-bytes bytes (one job may go
 * past), and the tenants that wait for room are all served in the end.
 */
const BIG = 16 * 1024;
const BOUND_BYTES = 4 * BIG;
const BOUND_JOBS = 10;

const warnings: Array<Record<string, unknown>> = [];
const h = useBroker({
  onLog: (line) => warnings.push(line),
  metricsAddress: '127.0.0.1:0',
  prefetchBytes: BOUND_BYTES,
  prefetchJobs: BOUND_JOBS,
  // No job is ever bigger than BIG here: the guess before a queue's first fetch.
  maxPayloadBytes: BIG,
});

/** One series of the Prometheus endpoint (`name{labels}`), NaN when absent. */
async function metric(series: string): Promise<number> {
  const text = await (await fetch(h.broker.metricsUrl!)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

async function prefetchGauges(queue: string): Promise<PrefetchUse> {
  const [jobs, bytes, waiting] = await Promise.all(
    ['jobs', 'bytes', 'waiting'].map((name) => metric(`rota_prefetch_${name}{queue="${queue}"}`)),
  );
  return { jobs: jobs!, bytes: bytes!, waiting: waiting! };
}

async function enqueueWide(
  queue: string,
  tenants: number,
  perTenant: number,
  bytes: number,
): Promise<string[]> {
  const jobs = Array.from({ length: tenants * perTenant }, (_, i) => ({
    tenant: `t${i % tenants}`,
    queue,
    payload: Buffer.alloc(bytes, i % 251),
  }));
  const { results } = await h.enqueueBatch(jobs);
  return results.map((r) => {
    expect(r.error).toBeFalsy();
    return r.job_id;
  });
}

/**
 * A worker of capacity 1 holds its first lease, so the rest of the backlog
 * sits in the broker: the gauges must show the bound full and tenants in
 * line, never above the bound. Then every job is completed, and each is.
 */
async function checkBound(
  queue: string,
  tenants: number,
  perTenant: number,
  bytes: number,
  within: (g: PrefetchUse) => void,
): Promise<void> {
  const worker: RawWorker = await h.worker({ queues: [queue], capacity: 1 });
  const ids = await enqueueWide(queue, tenants, perTenant, bytes);
  await worker.take(1);
  const full = await eventually(async () => {
    const gauges = await prefetchGauges(queue);
    return gauges.waiting > 0 ? gauges : undefined;
  });
  within(full);

  // Sampled while the backlog drains, checked after (eventually() retries a check that throws).
  const samples: PrefetchUse[] = [];
  const completer = autoComplete(worker);
  try {
    await eventually(
      async () => {
        samples.push(await prefetchGauges(queue));
        return completer.order.length === ids.length ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
  } finally {
    completer.stop();
  }
  expect(samples.length).toBeGreaterThan(1);
  samples.forEach(within);
  expect(new Set(completer.order).size).toBe(tenants);
  const states = await Promise.all(
    ids.map(async (id, i) => (await h.getJob(`t${i % tenants}`, id)).state),
  );
  expect(new Set(states)).toEqual(new Set(['COMPLETED']));
  // Tenants still in line have nothing left to read: each is fetched once more, then leaves.
  const after = await eventually(async () => {
    const gauges = await prefetchGauges(queue);
    return gauges.waiting === 0 ? gauges : undefined;
  });
  expect(after).toEqual({ jobs: 0, bytes: 0, waiting: 0 });
}

describe('prefetch bound', () => {
  it('holds the byte bound with many tenants of big jobs, and serves them all', async () => {
    // Without the bound each of 30 tenants buffers at least one 16 KiB job: 480 KiB.
    await checkBound('big', 30, 3, BIG, (g) => {
      expect(g.bytes).toBeLessThanOrEqual(BOUND_BYTES + BIG);
      expect(g.jobs).toBeLessThanOrEqual(BOUND_JOBS);
    });
    // Operators hear of it: one warning (a minute apart at most) naming the queue and the bound.
    const said = warnings.filter((w) => String(w.msg).startsWith('prefetch bound reached'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ queue: 'big', prefetchBytes: BOUND_BYTES });
    expect(said[0]!.waiting).toBeGreaterThan(0);
  });

  it('holds the job bound with many tenants of small jobs, and serves them all', async () => {
    // Without the bound each of 40 tenants buffers up to 4 jobs.
    await checkBound('small', 40, 4, 10, (g) => {
      expect(g.jobs).toBeLessThanOrEqual(BOUND_JOBS);
    });
  });

  /**
   * `perTenant` jobs of `bytes` for each tenant, served by a worker of capacity
   * 1 that completes each lease at once: the tenants of its first `dispatches`.
   */
  async function serveBacklog(
    queue: string,
    tenants: readonly string[],
    perTenant: number,
    bytes: number,
    dispatches: number,
  ): Promise<string[]> {
    const worker = await h.worker({ queues: [queue], capacity: 1 });
    await h.enqueueBatch(
      tenants.flatMap((tenant) =>
        Array.from({ length: perTenant }, () => ({ tenant, queue, payload: Buffer.alloc(bytes) })),
      ),
    );
    const completer = autoComplete(worker);
    try {
      await eventually(() => (completer.order.length >= dispatches ? true : undefined), {
        timeoutMs: 30_000,
      });
    } finally {
      completer.stop();
    }
    return completer.order.slice(0, dispatches);
  }

  it('serves the tenants in line in turn, not after the backlogs of those already buffered', async () => {
    const tenants = Array.from({ length: 9 }, (_, i) => `turn${i}`);
    // 16 KiB jobs: the byte bound holds 4, so at most four tenants have a job read at a time.
    const order = await serveBacklog('turns', tenants, 30, BIG, 100);
    // About 10 each in 90 dispatches. When a tenant whose job went out took the
    // room it freed at once, the four buffered first kept it, and the other
    // five got none until those four had run out of jobs.
    const served = new Map(tenants.map((tenant) => [tenant, 0]));
    for (const tenant of order.slice(10)) served.set(tenant, served.get(tenant)! + 1);
    for (const count of served.values()) expect(count).toBeGreaterThanOrEqual(5);
  });

  it('weighs the turns in line as the scheduler weighs dispatches', async () => {
    const light = Array.from({ length: 6 }, (_, i) => `light${i}`);
    await h.setTenant({ tenant: 'heavy', weight: 4 });
    // 4 KiB jobs: the job bound holds 10 for 7 tenants, so the line decides who is served.
    const order = await serveBacklog('weighed', ['heavy', ...light], 40, BIG / 4, 110);
    // Weights 4 : 1 × 6 give heavy 40 of 100 dispatches. With a first-come
    // line and buffer shares that ignored weights it got 6 (fewer than the 14
    // of an equal share).
    const window = order.slice(10);
    const heavy = window.filter((tenant) => tenant === 'heavy').length;
    expect(heavy).toBeGreaterThanOrEqual(30);
    for (const tenant of light) {
      expect(window.filter((t) => t === tenant).length).toBeGreaterThan(4);
    }
  });

  it('gives back the room of fetches that failed', async () => {
    // Fetches fail while the tenants' level indexes are not sorted sets (the
    // fetch script's ZREVRANGE gets WRONGTYPE) and are retried once a second.
    // Meanwhile the worker empties the buffers. The room each failed fetch was
    // expected to fill must come back, or it would add up to the whole bound
    // and no job would be read again once the fetches work.
    const queue = 'failing';
    const worker = await h.worker({ queues: [queue], capacity: 1 });
    const ids = await enqueueWide(queue, 6, 3, BIG);
    await worker.take(1);
    const redis = new Redis(h.redis.url);
    const completer = autoComplete(worker);
    try {
      const levels = await redis.keys(`*:${queue}:levels`);
      expect(levels).toHaveLength(6);
      // Swapped in one MULTI each way: a fetch that ran between a DEL and its
      // write saw no levels at all, so no jobs, and rightly retired the tenant.
      for (const key of levels) await redis.multi().del(key).set(key, 'not a zset').exec();
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(completer.order.length).toBeLessThan(ids.length);
      for (const key of levels) await redis.multi().del(key).zadd(key, 0, '0').exec();
      await eventually(() => (completer.order.length === ids.length ? true : undefined), {
        timeoutMs: 30_000, // "never" is the failure this guards against; slow CI is not
      });
    } finally {
      completer.stop();
      redis.disconnect();
    }
  });

  it('gives the room of a tenant whose dedicated worker left to the others', async () => {
    const queue = 'dedicated';
    const enqueue = (tenant: string, count: number) =>
      h.enqueueBatch(
        Array.from({ length: count }, () => ({ tenant, queue, payload: Buffer.alloc(BIG) })),
      );
    // Tenant "hog" fills the byte bound while its own worker holds one lease
    // (its buffer is refilled to the whole bound once its second lease goes out).
    const hogWorker = await h.worker({ queues: [queue], capacity: 1, tenants: ['hog'] });
    await enqueue('hog', 8);
    hogWorker.complete((await hogWorker.take(1))[0]!);
    await hogWorker.take(1);
    await eventually(async () =>
      (await prefetchGauges(queue)).bytes >= BOUND_BYTES ? true : undefined,
    );
    // Its worker goes; the only worker left takes another tenant alone.
    const otherWorker = await h.worker({ queues: [queue], capacity: 6, tenants: ['other'] });
    const sessions = await metric('rota_sessions');
    hogWorker.drop();
    await eventually(async () =>
      (await metric('rota_sessions')) === sessions - 1 ? true : undefined,
    );
    await enqueue('other', 6);
    const leases = await otherWorker.take(6);
    expect(leases.every((l) => l.tenant === 'other')).toBe(true);
    expect((await prefetchGauges(queue)).bytes).toBe(0);
  });

  it("does not let a paused tenant's backlog hold the bound", async () => {
    const queue = 'paused-backlog';
    const enqueue = (tenant: string, count: number) =>
      h.enqueueBatch(
        Array.from({ length: count }, () => ({ tenant, queue, payload: Buffer.alloc(BIG) })),
      );
    await h.setTenant({ tenant: 'sleeper', paused: true });
    const worker = await h.worker({ queues: [queue], capacity: 5 });
    // Four jobs of 16 KiB are the whole byte bound: read ahead, they would
    // sit there until the pause ends, and no other tenant's job be read.
    await enqueue('sleeper', 8);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await enqueue('awake', 2);
    const leases = await worker.take(2, 5000);
    expect(leases.map((l) => l.tenant)).toEqual(['awake', 'awake']);

    // Resumed, its jobs are read and served (none is lost to the pause).
    await h.setTenant({ tenant: 'sleeper', paused: false });
    const completer = autoComplete(worker);
    try {
      await eventually(
        () =>
          completer.order.filter((tenant) => tenant === 'sleeper').length === 8 ? true : undefined,
        { timeoutMs: 20_000 },
      );
    } finally {
      completer.stop();
    }
  });

  it('does not let the backlog of a tenant at its max_in_flight hold the bound', async () => {
    const queue = 'capped-backlog';
    await h.setTenant({ tenant: 'narrow', max_in_flight: 1 });
    const worker = await h.worker({ queues: [queue], capacity: 5 });
    await h.enqueueBatch(Array.from({ length: 30 }, () => ({ tenant: 'narrow', queue })));
    await worker.take(1); // held: the tenant is at its cap until it completes
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Read ahead, its backlog took the whole job bound (10), for one dispatch at a time.
    await h.enqueueBatch(Array.from({ length: 2 }, () => ({ tenant: 'wide', queue })));
    const leases = await worker.take(2, 5000);
    expect(leases.map((l) => l.tenant)).toEqual(['wide', 'wide']);
  });
});
