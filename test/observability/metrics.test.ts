import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { autoComplete } from '../helpers/raw-worker.js';
import { call, eventually, rawClients } from '../helpers/broker.js';
import { scrape, value } from '../helpers/metrics.js';
import type { Stats__Output } from '../../src/generated/rota/v1/Stats.js';

const h = useBroker({ metricsAddress: '127.0.0.1:0', metricsMaxTenants: 2 });

describe('Prometheus metrics', () => {
  it('counts jobs as they flow, per tenant and queue', async () => {
    const before = await scrape(h.broker.metricsUrl!);
    for (let i = 0; i < 3; i++) await h.enqueue({ tenant: 'acme', queue: 'metered' });
    await h.enqueue({
      tenant: 'acme',
      queue: 'metered',
      max_attempts: 1,
      payload: Buffer.from('fail'),
    });
    const worker = await h.worker({ queues: ['metered'] });
    const leases = await worker.take(4);
    for (const lease of leases) {
      if (lease.payload.toString() === 'fail') worker.fail(lease, 'boom');
      else worker.complete(lease);
    }
    const labels = 'tenant="acme",queue="metered"';
    const after = await eventually(async () => {
      const series = await scrape(h.broker.metricsUrl!);
      return value(series, 'rota_jobs_dead_total', labels) === 1 ? series : undefined;
    });
    expect(
      value(after, 'rota_jobs_enqueued_total', labels) -
        value(before, 'rota_jobs_enqueued_total', labels),
    ).toBe(4);
    expect(value(after, 'rota_jobs_dispatched_total', labels)).toBe(4);
    expect(value(after, 'rota_jobs_completed_total', labels)).toBe(3);
    expect(value(after, 'rota_jobs_failed_total', labels)).toBe(1);
    expect(value(after, 'rota_job_wait_time_count', labels)).toBe(4);
    expect(value(after, 'rota_job_run_time_count', labels)).toBe(4);
    // Cumulative buckets: every wait is under a minute, none is negative.
    expect(value(after, 'rota_job_wait_time_bucket', `${labels},le="60000"`)).toBe(4);
    expect(value(after, 'rota_job_wait_time_bucket', `${labels},le="+Inf"`)).toBe(4);
    expect(value(after, 'rota_job_wait_time_sum', labels)).toBeGreaterThanOrEqual(0);
    expect(after.get('rota_sessions')).toBeGreaterThanOrEqual(1);
  });

  it('counts cancelled jobs, by CancelJob and by PurgeQueue', async () => {
    const one = await h.enqueue({ tenant: 'acme', queue: 'dropped' });
    for (let i = 0; i < 3; i++) {
      await h.enqueue({ tenant: 'acme', queue: 'dropped', delay_ms: 60_000 });
    }
    await h.cancel('acme', one.job_id);
    await h.cancel('acme', one.job_id); // already cancelled: not counted again
    expect(await h.purge({ tenant: 'acme', queue: 'dropped' })).toEqual({ purged: 3 });
    const series = await scrape(h.broker.metricsUrl!);
    const labels = 'tenant="acme",queue="dropped"';
    expect(value(series, 'rota_jobs_cancelled_total', `${labels},reason="cancel"`)).toBe(1);
    expect(value(series, 'rota_jobs_cancelled_total', `${labels},reason="purge"`)).toBe(3);
  });

  it('counts dead jobs taken out of the dead letter queue, by replay and by deletion', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await h.enqueue({ tenant: 'acme', queue: 'graveyard', max_attempts: 1 })).job_id);
    }
    const worker = await h.worker({ queues: ['graveyard'] });
    for (const lease of await worker.take(3)) worker.fail(lease, 'boom');
    const labels = 'tenant="acme",queue="graveyard"';
    await eventually(async () =>
      value(await scrape(h.broker.metricsUrl!), 'rota_jobs_dead_total', labels) === 3
        ? true
        : undefined,
    );
    worker.end();
    expect(
      await h.replay({ tenant: 'acme', queue: 'graveyard', job_ids: [ids[0]!] }),
    ).toMatchObject({ replayed: 1 });
    expect(
      await h.deleteDead({ tenant: 'acme', queue: 'graveyard', job_ids: [ids[1]!, 'no-such-job'] }),
    ).toMatchObject({ deleted: 1 });
    expect(await h.deleteDead({ tenant: 'acme', queue: 'graveyard', all: true })).toMatchObject({
      deleted: 1,
    });
    const series = await scrape(h.broker.metricsUrl!);
    expect(value(series, 'rota_jobs_dead_letters_taken_total', `${labels},reason="replay"`)).toBe(
      1,
    );
    expect(value(series, 'rota_jobs_dead_letters_taken_total', `${labels},reason="delete"`)).toBe(
      2,
    );
  });

  it('counts attempts the recovery sweep ends after their broker died', async () => {
    const retried = await h.enqueue({ tenant: 'acme', queue: 'orphaned', max_attempts: 2 });
    const buried = await h.enqueue({ tenant: 'acme', queue: 'orphaned', max_attempts: 1 });
    const worker = await h.worker({ queues: ['orphaned'] }, { heartbeat: false });
    await worker.take(2);
    await h.broker.kill(); // its leases stay in Redis, held by no one
    worker.drop();
    await h.restartBroker();
    // The new broker sweeps the queues its workers take.
    const next = await h.worker({ queues: ['orphaned'] });
    await h.waitState('acme', buried.job_id, 'DEAD', 15_000);
    const [again] = await next.take(1, 15_000);
    expect(again).toMatchObject({ job_id: retried.job_id, attempt: 2 });
    next.complete(again!);
    const labels = 'tenant="acme",queue="orphaned"';
    const series = await eventually(async () => {
      const scraped = await scrape(h.broker.metricsUrl!);
      return value(scraped, 'rota_jobs_dead_total', labels) === 1 ? scraped : undefined;
    });
    expect(value(series, 'rota_jobs_failed_total', labels)).toBe(2);
    expect(value(series, 'rota_jobs_expired_total', `${labels},reason="expired"`)).toBe(2);
    // GetStats of the broker that ended them counts them too, as its failed_per_second.
    const [row] = (await h.stats({ queue: 'orphaned', tenant: 'acme' })).entries;
    expect(row!.failed_per_second).toBeCloseTo(2 / 60, 5);
  });

  it('drops the gauges of what is gone: a drained queue shows no age, a dropped queue no read-ahead', async () => {
    // The SDK's observable gauges keep exporting a label set's last value once
    // a callback stops observing it (opentelemetry-js #4096): the age of the
    // oldest waiting job stayed at its last reading after the job ran.
    const labels = 'tenant="acme",queue="aging"';
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'aging' });
    await eventually(
      async () =>
        value(await scrape(h.broker.metricsUrl!), 'rota_queue_oldest_waiting_age', labels) > 0
          ? true
          : undefined,
      { timeoutMs: 10_000 },
    );
    const worker = await h.worker({ queues: ['aging'] });
    const [lease] = await worker.take(1);
    worker.complete(lease!);
    await h.waitState('acme', job_id, 'COMPLETED');
    worker.end();
    await eventually(
      async () => {
        const series = await scrape(h.broker.metricsUrl!);
        const gone = ![...series.keys()].some(
          (key) =>
            key === `rota_queue_oldest_waiting_age{${labels}}` ||
            key === 'rota_prefetch_jobs{queue="aging"}',
        );
        return gone ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
  }, 45_000);

  it('puts tenants past the label limit under "other"', async () => {
    for (const tenant of ['t1', 't2', 't3', 't4']) await h.enqueue({ tenant, queue: 'many' });
    const series = await scrape(h.broker.metricsUrl!);
    const tenants = [...series.keys()]
      .filter((k) => k.startsWith('rota_jobs_enqueued_total{'))
      .map((k) => /tenant="([^"]*)"/.exec(k)?.[1]);
    expect(new Set(tenants).size).toBeLessThanOrEqual(3); // two named tenants + "other"
    expect(tenants).toContain('other');
  });
});

describe('Admin.GetStats', () => {
  it('reports depth by state, oldest age, rates and percentiles', async () => {
    await h.enqueueBatch(Array.from({ length: 5 }, () => ({ tenant: 'stat', queue: 'stats-q' })));
    await h.enqueue({ tenant: 'stat', queue: 'stats-q', delay_ms: 60_000 });
    const clients = rawClients(h.broker.address);
    try {
      const get = () =>
        call<{ queue: string; tenant: string }, Stats__Output>(
          clients.admin.GetStats.bind(clients.admin),
          {
            queue: 'stats-q',
            tenant: '',
          },
        );
      const [waitingRow] = (await get()).entries;
      expect(waitingRow).toMatchObject({
        queue: 'stats-q',
        tenant: 'stat',
        waiting: '5',
        delayed: '1',
        leased: '0',
        dead: '0',
      });
      const worker = await h.worker({ queues: ['stats-q'], capacity: 2 });
      const run = autoComplete(worker);
      await eventually(() => (run.order.length === 5 ? true : undefined));
      run.stop();
      const row = await eventually(async () => {
        const [r] = (await get()).entries;
        return r && r.waiting === '0' && r.leased === '0' ? r : undefined;
      });
      expect(row.delayed).toBe('1');
      expect(row.enqueued_per_second).toBeCloseTo(6 / 60, 5);
      expect(row.completed_per_second).toBeCloseTo(5 / 60, 5);
      expect(Number(row.wait_ms!.count)).toBe(5);
      expect(Number(row.run_ms!.count)).toBe(5);
      expect(row.run_ms!.p99).toBeGreaterThanOrEqual(row.run_ms!.p50);
      expect(row.oldest_waiting_age_ms).toBe('0');
    } finally {
      clients.close();
    }
  });

  it('lists queues from its set of queues, built once from older data, never by a SCAN', async () => {
    const prefix = h.broker.config.keyPrefix;
    const redis = new Redis(h.redis.url);
    const clients = () => rawClients(h.broker.address);
    try {
      // Data from before the set of queues was kept: an index of active tenants only.
      await redis.del(`${prefix}:queues`);
      await redis.sadd(`${prefix}:queue:legacy:tenants`, 'old-tenant');
      await h.broker.shutdown();
      await h.restartBroker();
      await redis.config('RESETSTAT');
      await h.enqueue({ tenant: 'fresh', queue: 'new-q' });
      const admin = clients();
      try {
        const { entries } = await call<{ queue: string; tenant: string }, Stats__Output>(
          admin.admin.GetStats.bind(admin.admin),
          { queue: '', tenant: '' },
        );
        const pairs = entries.map((row) => `${row.queue}/${row.tenant}`);
        expect(pairs).toContain('legacy/old-tenant');
        expect(pairs).toContain('new-q/fresh');
      } finally {
        admin.close();
      }
      // A SCAN walks every key, job hashes included: about 0.8 s of Redis per million keys.
      expect(await redis.info('commandstats')).not.toMatch(/cmdstat_scan:/);
    } finally {
      redis.disconnect();
    }
  });
});

describe('Node.js runtime metrics', () => {
  it('report event-loop delay (a stall shows), utilization, GC and heap', async () => {
    await scrape(h.broker.metricsUrl!); // the delay figures start afresh from here
    const stallUntil = Date.now() + 150;
    while (Date.now() < stallUntil); // the broker runs in this process: its loop stalls too
    await new Promise((resolve) => setTimeout(resolve, 100)); // enough samples after the stall
    const series = await scrape(h.broker.metricsUrl!);
    expect(series.get('nodejs_eventloop_delay_max')).toBeGreaterThanOrEqual(0.1);
    expect(series.get('nodejs_eventloop_delay_p50')).toBeLessThan(
      series.get('nodejs_eventloop_delay_max')!,
    );
    expect(series.get('nodejs_eventloop_utilization')).toBeGreaterThan(0);
    expect(series.get('v8js_memory_heap_used{v8js_heap_space_name="old_space"}')).toBeGreaterThan(
      0,
    );
    expect([...series.keys()].some((name) => name.startsWith('v8js_gc_duration_count'))).toBe(true);
  });
});
