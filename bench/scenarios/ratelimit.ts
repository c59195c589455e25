/**
 * Rate limit: tenant `limited` gets `rate` jobs/s (Admin.SetTenant; burst left
 * at its default) and a backlog far larger than it may run; tenant `free` has
 * an unlimited backlog beside it. The achieved rate of `limited` after its
 * first second (the initial bucket of tokens), and what `free` gets meanwhile
 * (the limit must not idle the workers).
 */
import type { BenchContext, Row, ScenarioOutput } from '../lib/context.js';
import { sleep } from '../lib/context.js';
import { applySettings } from './fairness.js';
import { producerCall, startProducers, startWorkers, workerCall } from './common.js';

export async function ratelimit(ctx: BenchContext): Promise<ScenarioOutput> {
  const notes: string[] = [];
  const { limitRate, limitSeconds } = ctx.knobs;
  const broker = await ctx.startBroker();
  const limited = await applySettings(
    () => broker.setTenant({ tenant: 'limited', rate: limitRate }),
    `rate of limited`,
    notes,
  );
  const queue = 'limit';
  const producer = producerCall(await startProducers(ctx, { kind: 'rota', broker }, queue));
  const limitedJobs = Math.ceil(limitRate * (limitSeconds + 5));
  const freeJobs = ctx.knobs.jobs;
  for (const [tenant, total] of [
    ['limited', limitedJobs],
    ['free', freeJobs],
  ] as const) {
    const burst = await producer.call(
      'burst',
      {
        total,
        mode: 'batch',
        inflight: ctx.knobs.batchInflight,
        batchSize: ctx.knobs.batchSize,
        tenants: [tenant],
        stamp: false,
      },
      ctx.boundMs(total, 500),
    );
    if (burst.errors > 0)
      notes.push(`${tenant}: ${burst.errors} enqueue errors (${burst.firstError})`);
  }
  await producer.call('stop', {});
  const bucketMs = 100;
  const worker = workerCall(await startWorkers(ctx, { kind: 'rota', broker }, queue, { bucketMs }));
  await sleep(limitSeconds * 1000 + 300);
  const snapshot = await worker.call('snapshot', {});
  await worker.call('stop', {});
  await broker.stop();

  const { buckets } = snapshot.timeline;
  const firstBucket = Math.max(
    0,
    buckets.findIndex((b) => (b.limited ?? 0) > 0),
  );
  const count = (tenant: string, from: number, to: number): number =>
    buckets.slice(from, to).reduce((sum, b) => sum + (b[tenant] ?? 0), 0);
  const perSecond = 1000 / bucketMs;
  const steadyFrom = firstBucket + perSecond;
  const steadyTo = firstBucket + limitSeconds * perSecond;
  const steadyBuckets = Math.max(0, Math.min(steadyTo, buckets.length) - steadyFrom);
  const achieved =
    steadyBuckets === 0
      ? NaN
      : (count('limited', steadyFrom, steadyTo) * perSecond) / steadyBuckets;
  const firstSecond = count('limited', firstBucket, firstBucket + perSecond);
  const free = snapshot.families.free;
  const freeRate = free === undefined ? NaN : free.count / ((free.lastAt - free.firstAt) / 1000);
  const rows: Row[] = [
    {
      metric: `limited tenant, rate set to ${limitRate}/s: achieved after its first second`,
      unit: 'jobs/s',
      rota: achieved,
      bullmq: null,
    },
    {
      metric: 'limited tenant: dispatched in its first second (burst + rate)',
      unit: 'jobs',
      rota: firstSecond,
      bullmq: null,
    },
    {
      metric: 'unlimited tenant beside it',
      unit: 'jobs/s',
      rota: freeRate,
      bullmq: null,
      better: 'higher',
    },
  ];
  if (free !== undefined && free.count >= freeJobs) {
    notes.push(
      `the unlimited tenant's ${freeJobs} jobs were all served within ${((free.lastAt - free.firstAt) / 1000).toFixed(1)} s`,
    );
  }
  return {
    rows,
    targets: [
      {
        target: `rate limit: achieved rate within ±10% of ${limitRate}/s`,
        measured: limited
          ? `${achieved.toFixed(1)} jobs/s over ${(steadyBuckets / perSecond).toFixed(1)} s`
          : 'SetTenant unavailable',
        met:
          limited && Number.isFinite(achieved)
            ? Math.abs(achieved - limitRate) <= 0.1 * limitRate
            : null,
      },
    ],
    details: {
      limitRate,
      limitSeconds,
      limitedJobs,
      freeJobs,
      settingsApplied: limited,
      achieved,
      firstSecond,
      freeRate,
      perTenant: snapshot.perTenant,
      timeline: snapshot.timeline,
    },
    charts: [],
    notes,
  };
}
