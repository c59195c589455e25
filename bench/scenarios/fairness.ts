/**
 * Fairness: three tenants of weight 1:2:4 (Admin.SetTenant), each with the same
 * backlog queued before the workers connect, so all three stay backlogged. The
 * workers then run until 1.5 backlogs are served (no tenant can have run out:
 * the heaviest gets 4/7 of them). Each tenant's share of dispatches vs its
 * weight, and Jain's index over served/weight, overall and per time bucket.
 */
import * as grpc from '@grpc/grpc-js';

import type { WorkerSnapshot } from '../agents/protocol.js';
import type { BenchContext, Row, ScenarioOutput } from '../lib/context.js';
import { jainIndex } from '../lib/stats.js';
import { renderChart, type Series } from '../lib/svg-chart.js';
import { producerCall, startProducers, startWorkers, workerCall } from './common.js';

export interface WeightedTenant {
  name: string;
  weight: number;
}

/**
 * Applies weights with SetTenant. When this broker version does not offer it
 * (FAILED_PRECONDITION "not available"), says so and falls back to weight 1.
 */
export async function applySettings(
  set: () => Promise<void>,
  what: string,
  notes: string[],
): Promise<boolean> {
  try {
    await set();
    return true;
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === grpc.status.FAILED_PRECONDITION || code === grpc.status.UNIMPLEMENTED) {
      notes.push(
        `Admin.SetTenant (${what}) is not available in this broker: ${(error as Error).message}`,
      );
      return false;
    }
    throw error;
  }
}

/** Share of each family per bucket, over the buckets that hold at least `minCount` dispatches. */
export function sharesOverTime(
  snapshot: WorkerSnapshot,
  families: readonly string[],
  minCount = 1,
): Array<{ t: number; total: number; shares: Record<string, number> }> {
  const { bucketMs, buckets } = snapshot.timeline;
  return buckets.flatMap((bucket, i) => {
    const total = families.reduce((sum, f) => sum + (bucket[f] ?? 0), 0);
    if (total < minCount) return [];
    const shares = Object.fromEntries(families.map((f) => [f, (bucket[f] ?? 0) / total]));
    return [{ t: ((i + 0.5) * bucketMs) / 1000, total, shares }];
  });
}

export async function fairness(ctx: BenchContext): Promise<ScenarioOutput> {
  const notes: string[] = [];
  const backlog = ctx.knobs.fairBacklog;
  const broker = await ctx.startBroker();
  let tenants: WeightedTenant[] = [
    { name: 'w1', weight: 1 },
    { name: 'w2', weight: 2 },
    { name: 'w4', weight: 4 },
  ];
  let weighted = true;
  for (const tenant of tenants) {
    weighted &&= await applySettings(
      () => broker.setTenant({ tenant: tenant.name, weight: tenant.weight }),
      `weight of ${tenant.name}`,
      notes,
    );
  }
  if (!weighted) tenants = tenants.map((t) => ({ ...t, weight: 1 }));
  const names = tenants.map((t) => t.name);
  const queue = 'fair';

  const producer = producerCall(await startProducers(ctx, { kind: 'rota', broker }, queue));
  ctx.log(`queueing ${backlog} jobs for each of ${names.join(', ')}`);
  const burst = await producer.call(
    'burst',
    {
      total: backlog * names.length,
      mode: 'batch',
      inflight: ctx.knobs.batchInflight,
      batchSize: ctx.knobs.batchSize,
      tenants: names,
      stamp: false,
    },
    ctx.boundMs(backlog * names.length, 500),
  );
  await producer.call('stop', {});
  if (burst.errors > 0) notes.push(`${burst.errors} enqueue errors (first: ${burst.firstError})`);

  const target = Math.floor(1.5 * backlog);
  const bucketMs = ctx.options.quick ? 50 : 100;
  const worker = workerCall(await startWorkers(ctx, { kind: 'rota', broker }, queue, { bucketMs }));
  ctx.log(`serving ${target} jobs`);
  const wait = await worker.call(
    'waitFor',
    { completed: target, timeoutMs: ctx.boundMs(target, 300) },
    ctx.boundMs(target, 300) + 10_000,
  );
  const snapshot = await worker.call('snapshot', {});
  await worker.call('stop', {});
  await broker.stop();
  if (!wait.reached) notes.push(`only ${snapshot.completed} of ${target} jobs were served in time`);

  const served = tenants.map((t) => snapshot.perTenant[t.name] ?? 0);
  const total = served.reduce((a, b) => a + b, 0);
  const weightSum = tenants.reduce((a, t) => a + t.weight, 0);
  const exhausted = tenants.filter((_, i) => (served[i] ?? 0) >= backlog).map((t) => t.name);
  if (exhausted.length > 0)
    notes.push(`backlog ran out for ${exhausted.join(', ')}: shares are biased`);
  const jain = jainIndex(tenants.map((t, i) => (served[i] ?? 0) / t.weight));
  const timeline = sharesOverTime(snapshot, names, 20);
  // Steady state: without the first and the last bucket (connect, and the partial end).
  const steady = timeline.slice(1, -1);
  const steadyJain = steady.map((b) =>
    jainIndex(tenants.map((t) => (b.shares[t.name] ?? 0) / t.weight)),
  );
  const worstBucketJain = steadyJain.length === 0 ? NaN : Math.min(...steadyJain);
  const maxDeviation = Math.max(
    0,
    ...steady.flatMap((b) =>
      tenants.map((t) => Math.abs((b.shares[t.name] ?? 0) - t.weight / weightSum)),
    ),
  );
  const seconds = (snapshot.lastDoneAt - snapshot.firstStartAt) / 1000;

  const rows: Row[] = tenants.map((t, i) => ({
    metric: `share of ${t.name} (weight ${t.weight}; expected ${((100 * t.weight) / weightSum).toFixed(1)}%)`,
    unit: '%',
    rota: (100 * (served[i] ?? 0)) / total,
    bullmq: null,
  }));
  rows.push(
    {
      metric: "Jain's index over served/weight (whole run)",
      unit: '',
      rota: jain,
      bullmq: null,
      better: 'higher',
    },
    {
      metric: `Jain's index, worst ${bucketMs} ms bucket`,
      unit: '',
      rota: worstBucketJain,
      bullmq: null,
      better: 'higher',
    },
    {
      metric: `largest share deviation in a ${bucketMs} ms bucket`,
      unit: 'points',
      rota: 100 * maxDeviation,
      bullmq: null,
      better: 'lower',
    },
    {
      metric: 'dispatch rate while saturated',
      unit: 'jobs/s',
      rota: total / seconds,
      bullmq: null,
      better: 'higher',
    },
  );

  const palette = ['#1f77b4', '#d62728', '#2ca02c'];
  const series: Series[] = tenants.flatMap((t, i) => [
    {
      name: `${t.name} (weight ${t.weight})`,
      color: palette[i],
      points: timeline.map((b): [number, number] => [b.t, 100 * (b.shares[t.name] ?? 0)]),
    },
    {
      name: `${t.name} expected ${((100 * t.weight) / weightSum).toFixed(1)}%`,
      color: palette[i],
      dashed: true,
      points: [
        [0, (100 * t.weight) / weightSum],
        [timeline[timeline.length - 1]?.t ?? 1, (100 * t.weight) / weightSum],
      ],
    },
  ]);
  const svg = renderChart(
    [
      {
        title: `Rota fairness: share of dispatches per tenant (weights ${tenants.map((t) => t.weight).join(':')}), ${bucketMs} ms buckets`,
        xLabel: 'time since the workers connected (s)',
        yLabel: 'share of dispatches (%)',
        yMin: 0,
        yMax: 100,
        series,
      },
    ],
    `${backlog.toLocaleString('en-US')} jobs queued per tenant; Jain's index ${jain.toFixed(4)}; run ${ctx.runId}`,
  );
  return {
    rows,
    targets: [
      {
        target: "fairness (DESIGN.md): Jain's index over served/weight ≥ 0.99 while backlogged",
        measured: `whole run ${jain.toFixed(4)}, worst ${bucketMs} ms bucket ${worstBucketJain.toFixed(4)}${weighted ? '' : ' (SetTenant unavailable: all weights 1)'}`,
        met: Number.isFinite(jain) ? jain >= 0.99 : null,
      },
    ],
    details: {
      weighted,
      tenants,
      backlogPerTenant: backlog,
      served: Object.fromEntries(tenants.map((t, i) => [t.name, served[i]])),
      jain,
      steadyJain,
      timeline,
      bucketMs,
    },
    charts: [{ name: 'shares', svg }],
    notes,
  };
}
