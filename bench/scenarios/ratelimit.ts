/**
 * Rate limit: tenant `limited` gets `rate` jobs/s (Admin.SetTenant; burst left
 * at its default) and a backlog far larger than it may run; tenant `free` has
 * an unlimited backlog beside it. The achieved rate of `limited` after its
 * first second (the initial bucket of tokens), and what `free` gets meanwhile
 * (the limit must not idle the workers). Then the same with two brokers on
 * the same Redis keys, the Worker instances spread over both: the rate must
 * hold for both together (a bucket in Redis), not for each.
 */
import type { BenchContext, Row, ScenarioOutput } from '../lib/context.js';
import { sleep } from '../lib/context.js';
import type { BrokerProcess } from '../lib/rota-broker.js';
import { applySettings } from './fairness.js';
import { producerCall, startProducers, startWorkers, workerCall } from './common.js';

interface Measured {
  /** SetTenant worked. */
  readonly limited: boolean;
  /** Jobs/s of `limited` after its first second. */
  readonly achieved: number;
  /** Seconds that figure covers. */
  readonly steadySeconds: number;
  /** Jobs of `limited` in its first second (burst + rate). */
  readonly firstSecond: number;
  /** Jobs/s of `free`, and whether all its jobs were served. */
  readonly freeRate: number;
  readonly freeAllServed: boolean;
  readonly details: Record<string, unknown>;
}

const BUCKET_MS = 100;

async function measure(
  ctx: BenchContext,
  brokers: readonly [BrokerProcess, ...BrokerProcess[]],
  notes: string[],
): Promise<Measured> {
  const { limitRate, limitSeconds } = ctx.knobs;
  const [broker, ...replicas] = brokers;
  const limited = await applySettings(
    () => broker.setTenant({ tenant: 'limited', rate: limitRate }),
    `rate of limited`,
    notes,
  );
  const queue = 'limit';
  const producer = producerCall(await startProducers(ctx, { kind: 'rota', broker }, queue));
  // More than one broker's prefetch buffer took of a tenant (512 jobs) before
  // a rate-limited tenant's buffer was bounded by its rate, so that with two
  // brokers both hold jobs of `limited`, also when run against older code.
  const limitedJobs = Math.ceil(limitRate * (limitSeconds + 5)) + 2 * 512;
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
  const worker = workerCall(
    await startWorkers(ctx, { kind: 'rota', broker }, queue, { bucketMs: BUCKET_MS, replicas }),
  );
  await sleep(limitSeconds * 1000 + 300);
  const snapshot = await worker.call('snapshot', {});
  await worker.call('stop', {});
  for (const each of brokers) await each.stop();

  const { buckets } = snapshot.timeline;
  const firstBucket = Math.max(
    0,
    buckets.findIndex((b) => (b.limited ?? 0) > 0),
  );
  const count = (tenant: string, from: number, to: number): number =>
    buckets.slice(from, to).reduce((sum, b) => sum + (b[tenant] ?? 0), 0);
  const perSecond = 1000 / BUCKET_MS;
  const steadyFrom = firstBucket + perSecond;
  const steadyTo = firstBucket + limitSeconds * perSecond;
  const steadyBuckets = Math.max(0, Math.min(steadyTo, buckets.length) - steadyFrom);
  const achieved =
    steadyBuckets === 0
      ? NaN
      : (count('limited', steadyFrom, steadyTo) * perSecond) / steadyBuckets;
  const free = snapshot.families.free;
  return {
    limited,
    achieved,
    steadySeconds: steadyBuckets / perSecond,
    firstSecond: count('limited', firstBucket, firstBucket + perSecond),
    freeRate: free === undefined ? NaN : free.count / ((free.lastAt - free.firstAt) / 1000),
    freeAllServed: free !== undefined && free.count >= freeJobs,
    details: { limitedJobs, freeJobs, perTenant: snapshot.perTenant, timeline: snapshot.timeline },
  };
}

export async function ratelimit(ctx: BenchContext): Promise<ScenarioOutput> {
  const notes: string[] = [];
  const { limitRate, limitSeconds } = ctx.knobs;
  const alone = await measure(ctx, [await ctx.startBroker()], notes);
  const first = await ctx.startBroker();
  const pair = await measure(ctx, [first, await ctx.startBroker(first)], notes);

  const rows: Row[] = [
    {
      metric: `limited tenant, rate set to ${limitRate}/s: achieved after its first second`,
      unit: 'jobs/s',
      rota: alone.achieved,
      bullmq: null,
    },
    {
      metric: 'limited tenant: dispatched in its first second (burst + rate)',
      unit: 'jobs',
      rota: alone.firstSecond,
      bullmq: null,
    },
    {
      metric: 'unlimited tenant beside it',
      unit: 'jobs/s',
      rota: alone.freeRate,
      bullmq: null,
      better: 'higher',
    },
    {
      metric: 'two brokers on one Redis: limited tenant, both together',
      unit: 'jobs/s',
      rota: pair.achieved,
      bullmq: null,
    },
    {
      metric: 'two brokers: limited tenant in its first second',
      unit: 'jobs',
      rota: pair.firstSecond,
      bullmq: null,
    },
  ];
  if (alone.freeAllServed) notes.push(`the unlimited tenant's jobs were all served (one broker)`);
  const target = (label: string, measured: Measured) => ({
    target: `rate limit${label}: achieved rate within ±10% of ${limitRate}/s`,
    measured: measured.limited
      ? `${measured.achieved.toFixed(1)} jobs/s over ${measured.steadySeconds.toFixed(1)} s`
      : 'SetTenant unavailable',
    met:
      measured.limited && Number.isFinite(measured.achieved)
        ? Math.abs(measured.achieved - limitRate) <= 0.1 * limitRate
        : null,
  });
  return {
    rows,
    targets: [target('', alone), target(', two brokers together', pair)],
    details: {
      limitRate,
      limitSeconds,
      settingsApplied: alone.limited && pair.limited,
      oneBroker: { ...alone, details: undefined, ...alone.details },
      twoBrokers: { ...pair, details: undefined, ...pair.details },
    },
    charts: [],
    notes,
  };
}
