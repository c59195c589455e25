/**
 * Noisy neighbour: one tenant's flood (100,000 jobs) is queued first; then the
 * workers connect and, at once, quiet tenants send 10 jobs/s each for 5 s.
 * Quiet wait = enqueue → handler start. The flood's drain rate = flood jobs /
 * (its first dispatch → its last). BullMQ runs the same traffic on one queue
 * (FIFO: what a user gets without per-tenant setup).
 */
import type { WorkerSnapshot } from '../agents/protocol.js';
import type { BenchContext, Row, ScenarioOutput } from '../lib/context.js';
import type { LoopDelay } from '../lib/rota-broker.js';
import { distribution, type Distribution } from '../lib/stats.js';
import { renderChart, type Panel } from '../lib/svg-chart.js';
import { sharesOverTime } from './fairness.js';
import { producerCall, startProducers, startWorkers, workerCall, type System } from './common.js';

interface NoisyPhase {
  floodQueued: number;
  floodEnqueueSeconds: number;
  quietSent: number;
  /** Flood jobs per second, first dispatch → last dispatch. */
  floodDrainPerSec: number;
  floodDrainSeconds: number;
  quietWait: Distribution;
  /** Quiet jobs enqueued while flood jobs were still being dispatched. */
  quietWaitDuringFlood: Distribution;
  errors: number;
  snapshot: WorkerSnapshot;
  /** [enqueue time since the workers connected (s), wait (ms)] of each quiet job. */
  quietPoints: Array<[number, number]>;
  /** The broker's event-loop delay from the workers' start to the last job (Rota). */
  loopDelay: LoopDelay | undefined;
}

async function noisyPhase(ctx: BenchContext, system: System): Promise<NoisyPhase> {
  const queue = 'noisy';
  const { flood, quietTenants, quietRate, quietSeconds } = ctx.knobs;
  const producer = producerCall(await startProducers(ctx, system, queue));
  const queued = await producer.call(
    'burst',
    {
      total: flood,
      mode: 'batch',
      inflight: ctx.knobs.batchInflight,
      batchSize: ctx.knobs.batchSize,
      tenants: ['flood'],
      stamp: false,
    },
    ctx.boundMs(flood, 500),
  );
  if (system.kind === 'rota') await system.broker.eventLoopDelay(); // starts its window
  const worker = workerCall(
    await startWorkers(ctx, system, queue, { recordLatency: true, bucketMs: 100 }),
  );
  const paced = await producer.call(
    'paced',
    {
      streams: Array.from({ length: quietTenants }, (_, i) => ({
        tenant: `quiet-${i}`,
        rate: quietRate,
      })),
      durationMs: quietSeconds * 1000,
    },
    quietSeconds * 1000 + 60_000,
  );
  const expected = queued.sent + paced.sent;
  await worker.call(
    'waitFor',
    { completed: expected, timeoutMs: ctx.boundMs(flood, 1000) },
    ctx.boundMs(flood, 1000) + 10_000,
  );
  const loopDelay = system.kind === 'rota' ? await system.broker.eventLoopDelay() : undefined;
  const snapshot = await worker.call('snapshot', { withLatency: true });
  await worker.call('stop', {});
  await producer.call('stop', {});
  const floodFamily = snapshot.families.flood ?? { count: 0, firstAt: 0, lastAt: 0 };
  const quiet = snapshot.latency.quiet ?? { t: [], start: [], done: [], ack: [] };
  const during = quiet.start.filter((_, i) => (quiet.t[i] ?? Infinity) < floodFamily.lastAt);
  const drainSeconds = (floodFamily.lastAt - floodFamily.firstAt) / 1000;
  return {
    floodQueued: queued.sent,
    floodEnqueueSeconds: (queued.finishedAt - queued.startedAt) / 1000,
    quietSent: paced.sent,
    floodDrainPerSec: floodFamily.count / drainSeconds,
    floodDrainSeconds: drainSeconds,
    quietWait: distribution(quiet.start),
    quietWaitDuringFlood: distribution(during),
    errors: queued.errors + paced.errors + snapshot.errors,
    snapshot,
    quietPoints: quiet.t.map((t, i): [number, number] => [
      (t - snapshot.since) / 1000,
      quiet.start[i] ?? NaN,
    ]),
    loopDelay,
  };
}

function sharePanel(title: string, phase: NoisyPhase, xMax: number, quietTenants: number): Panel {
  const timeline = sharesOverTime(phase.snapshot, ['flood', 'quiet']);
  return {
    title,
    xLabel: 'time since the workers connected (s)',
    yLabel: 'share of dispatches (%, log)',
    yLog: true,
    yMin: 0.01,
    yMax: 100,
    xMax,
    yFormat: (v) => `${v}%`,
    series: [
      {
        name: 'flood (1 tenant)',
        color: '#d62728',
        points: timeline.map((b) => [b.t, 100 * (b.shares.flood ?? 0)]),
      },
      {
        name: `quiet (${quietTenants} tenants)`,
        color: '#1f77b4',
        points: timeline.map((b) => [b.t, 100 * (b.shares.quiet ?? 0)]),
      },
    ],
  };
}

export async function noisy(ctx: BenchContext): Promise<ScenarioOutput> {
  const broker = await ctx.startBroker();
  ctx.log(`Rota: ${ctx.knobs.flood} flood jobs, then ${ctx.knobs.quietTenants} quiet tenants`);
  const rota = await noisyPhase(ctx, { kind: 'rota', broker });
  await broker.stop();
  await ctx.flush();
  ctx.log('BullMQ (one FIFO queue): the same');
  const bull = await noisyPhase(ctx, { kind: 'bullmq', prefix: `bull-noisy-${ctx.runId}` });
  await ctx.flush();

  const rows: Row[] = [];
  for (const q of ['p50', 'p95', 'p99', 'max'] as const) {
    rows.push({
      metric: `quiet wait (enqueue→start) ${q}`,
      unit: 'ms',
      rota: rota.quietWait[q],
      bullmq: bull.quietWait[q],
      better: 'lower',
    });
  }
  rows.push(
    {
      metric: 'quiet wait p50, jobs sent while the flood drained',
      unit: 'ms',
      rota: rota.quietWaitDuringFlood.p50,
      bullmq: bull.quietWaitDuringFlood.p50,
      better: 'lower',
    },
    {
      metric: 'quiet wait p99, jobs sent while the flood drained',
      unit: 'ms',
      rota: rota.quietWaitDuringFlood.p99,
      bullmq: bull.quietWaitDuringFlood.p99,
      better: 'lower',
    },
    {
      metric: 'quiet jobs sent while the flood drained',
      unit: 'jobs',
      rota: rota.quietWaitDuringFlood.count,
      bullmq: bull.quietWaitDuringFlood.count,
    },
    {
      metric: 'flood drain rate',
      unit: 'jobs/s',
      rota: rota.floodDrainPerSec,
      bullmq: bull.floodDrainPerSec,
      better: 'higher',
    },
    {
      metric: 'broker event-loop delay p99 while draining (Rota)',
      unit: 'ms',
      rota: rota.loopDelay?.p99Ms ?? null,
      bullmq: null,
      better: 'lower',
    },
    {
      metric: 'broker event-loop delay max while draining (Rota)',
      unit: 'ms',
      rota: rota.loopDelay?.maxMs ?? null,
      bullmq: null,
      better: 'lower',
    },
    {
      metric: 'flood enqueue rate (batches, before the workers)',
      unit: 'jobs/s',
      rota: rota.floodQueued / rota.floodEnqueueSeconds,
      bullmq: bull.floodQueued / bull.floodEnqueueSeconds,
      better: 'higher',
    },
  );
  const notes: string[] = [];
  for (const [name, phase] of [
    ['Rota', rota],
    ['BullMQ', bull],
  ] as const) {
    if (phase.errors > 0) notes.push(`${name}: ${phase.errors} errors`);
    if (phase.quietWaitDuringFlood.count < phase.quietWait.count) {
      notes.push(
        `${name}: the flood was drained after ${phase.floodDrainSeconds.toFixed(1)} s; ${phase.quietWait.count - phase.quietWaitDuringFlood.count} of ${phase.quietWait.count} quiet jobs came after it`,
      );
    }
  }
  const floodRatio = rota.floodDrainPerSec / bull.floodDrainPerSec;
  const p99 =
    rota.quietWaitDuringFlood.count > 0 ? rota.quietWaitDuringFlood.p99 : rota.quietWait.p99;
  const xMax = Math.max(
    ...[rota, bull].map(
      (p) => ((p.snapshot.timeline.buckets.length + 1) * p.snapshot.timeline.bucketMs) / 1000,
    ),
  );
  const svg = renderChart(
    [
      sharePanel(
        'Rota: share of dispatches, flood vs quiet tenants',
        rota,
        xMax,
        ctx.knobs.quietTenants,
      ),
      sharePanel(
        'BullMQ (one FIFO queue): share of dispatches, flood vs quiet',
        bull,
        xMax,
        ctx.knobs.quietTenants,
      ),
      {
        title: 'Quiet tenants: wait of each job (enqueue → handler start)',
        xLabel: 'enqueue time since the workers connected (s)',
        yLabel: 'wait (ms, log)',
        yLog: true,
        xMax,
        series: [
          { name: 'Rota', color: '#2ca02c', dots: true, points: rota.quietPoints },
          { name: 'BullMQ FIFO', color: '#ff7f0e', dots: true, points: bull.quietPoints },
        ],
      },
    ],
    `${ctx.knobs.flood.toLocaleString('en-US')} flood jobs queued first; ${ctx.knobs.quietTenants} quiet tenants × ${ctx.knobs.quietRate} jobs/s for ${ctx.knobs.quietSeconds} s; run ${ctx.runId}`,
  );
  const strip = (
    phase: NoisyPhase,
  ): Omit<NoisyPhase, 'snapshot' | 'quietPoints'> & { timeline: unknown } => {
    const rest: Partial<NoisyPhase> = { ...phase };
    delete rest.snapshot;
    delete rest.quietPoints;
    return {
      ...(rest as Omit<NoisyPhase, 'snapshot' | 'quietPoints'>),
      timeline: sharesOverTime(phase.snapshot, ['flood', 'quiet']),
    };
  };
  return {
    rows,
    targets: [
      {
        target: 'noisy neighbour: quiet-tenant p99 wait ≤ 50 ms (issue), bar ≤ 10 ms (BASELINES)',
        measured: `Rota quiet p99 ${p99.toFixed(2)} ms (${rota.quietWaitDuringFlood.count > 0 ? 'jobs sent while the flood drained' : 'all quiet jobs'}); BullMQ FIFO ${bull.quietWait.p99.toFixed(0)} ms`,
        met: Number.isFinite(p99) ? p99 <= 50 : null,
      },
      {
        target: 'noisy neighbour: the flood drains at ≥ 5× BullMQ FIFO',
        measured: `Rota ${Math.round(rota.floodDrainPerSec)} vs BullMQ ${Math.round(bull.floodDrainPerSec)} jobs/s = ${floodRatio.toFixed(2)}×`,
        met: Number.isFinite(floodRatio) ? floodRatio >= 5 : null,
      },
    ],
    details: {
      knobs: {
        flood: ctx.knobs.flood,
        quietTenants: ctx.knobs.quietTenants,
        quietRate: ctx.knobs.quietRate,
        quietSeconds: ctx.knobs.quietSeconds,
      },
      rota: strip(rota),
      bullmq: strip(bull),
    },
    charts: [{ name: 'shares', svg }],
    notes,
  };
}
