/**
 * Latency at steady enqueue rates: one producer sends single jobs on a fixed
 * schedule (enqueue() / queue.add()), each stamped with the machine's monotonic
 * clock; the worker process measures enqueue → handler start and
 * enqueue → completed. The first `warmupSeconds` are left out.
 *
 * "Completed" for BullMQ is the Worker's `completed` event (the job was moved to
 * completed in Redis). For Rota it is the moment Redis marked the job completed,
 * seen as the keyspace `del` event of the job hash (`expire` with a retention
 * above 0: the complete script sets its TTL); the run enables
 * `notify-keyspace-events Eg` on its private Redis for this. Rota's "ack sent"
 * (the worker has written the ack to the Work stream) is reported beside it.
 *
 * First, the price of one hop on this machine (see round-trips.ts): round
 * trips of a bare grpc-js call, the floor under each of a Rota job's three
 * one-way gRPC hops, and of a Redis PING, what each of BullMQ's costs at least.
 */
import type { BenchContext, Row, ScenarioOutput, TargetCheck } from '../lib/context.js';
import { sleep } from '../lib/context.js';
import { CpuMeter } from '../lib/proc.js';
import { grpcRoundTrips, timeRoundTrips } from '../lib/round-trips.js';
import type { LoopDelay } from '../lib/rota-broker.js';
import { distribution, type Distribution } from '../lib/stats.js';
import { producerCall, startProducers, startWorkers, workerCall, type System } from './common.js';

interface RatePhase {
  rate: number;
  sent: number;
  completed: number;
  errors: number;
  maxLagMs: number;
  start: Distribution;
  completedDist: Distribution;
  ack: Distribution;
  enqueueCall: Distribution;
  /** Share of one core over the phase, per process. */
  cpuPercent: Record<string, number>;
  /** The broker's event-loop delay over the phase (Rota). */
  loopDelay: LoopDelay | undefined;
}

async function ratePhase(ctx: BenchContext, system: System, rate: number): Promise<RatePhase> {
  const queue = `lat-${rate}`;
  const warmMs = ctx.knobs.warmupSeconds * 1000;
  const durationMs = warmMs + ctx.knobs.latencySeconds * 1000;
  const worker = workerCall(
    await startWorkers(ctx, system, queue, {
      recordLatency: true,
      durableSignal: system.kind === 'rota',
      bucketMs: 1000,
    }),
  );
  const producer = producerCall(await startProducers(ctx, system, queue, 1));
  await worker.call('snapshot', { reset: true });
  const pids: Record<string, number> = {
    redis: ctx.redisPid,
    worker: worker.pid,
    producer: producer.pid,
  };
  if (system.kind === 'rota') pids.broker = system.broker.pid;
  const meter = new CpuMeter(pids);
  if (system.kind === 'rota') await system.broker.eventLoopDelay(); // starts its window
  meter.start();
  const paced = await producer.call(
    'paced',
    { streams: [{ tenant: 'lat', rate }], durationMs },
    durationMs + 60_000,
  );
  await worker.call('waitFor', { completed: paced.sent, timeoutMs: 30_000 }, 40_000);
  const cpu = meter.stop();
  const loopDelay = system.kind === 'rota' ? await system.broker.eventLoopDelay() : undefined;
  await sleep(300); // the last keyspace events
  const snapshot = await worker.call('snapshot', { withLatency: true });
  await worker.call('stop', {});
  await producer.call('stop', {});
  const samples = snapshot.latency.lat ?? { t: [], start: [], done: [], ack: [] };
  const from = paced.startedAt + warmMs;
  const keep = samples.t.map((t) => t >= from);
  const pick = (values: number[]): number[] => values.filter((_, i) => keep[i] === true);
  const callFrom = Math.floor((warmMs / 1000) * rate);
  return {
    rate,
    sent: paced.sent,
    completed: snapshot.completed,
    errors: paced.errors + snapshot.errors,
    maxLagMs: paced.maxLagMs,
    start: distribution(pick(samples.start)),
    completedDist: distribution(pick(samples.done)),
    ack: distribution(pick(samples.ack)),
    enqueueCall: distribution(paced.callMs.slice(callFrom)),
    cpuPercent: {
      ...Object.fromEntries(
        Object.entries(cpu.processes).map(([name, figure]) => [name, figure.corePercent]),
      ),
      other: cpu.otherCorePercent,
    },
    loopDelay,
  };
}

/** Gap between the timed round trips: both ends mostly idle, as between the jobs of a steady low rate. */
const HOP_GAP_MS = 1;

export async function latency(ctx: BenchContext): Promise<ScenarioOutput> {
  let hops: { grpc: Distribution; redis: Distribution } | undefined;
  if (ctx.knobs.hopCalls > 0) {
    ctx.log(`timing ${ctx.knobs.hopCalls} round trips of a bare grpc-js call and of a Redis PING`);
    hops = {
      grpc: await grpcRoundTrips(ctx.knobs.hopCalls, HOP_GAP_MS),
      redis: await timeRoundTrips(() => ctx.redisClient.ping(), ctx.knobs.hopCalls, HOP_GAP_MS),
    };
  }
  const previous = await ctx.redisClient.config('GET', 'notify-keyspace-events');
  await ctx.redisClient.config('SET', 'notify-keyspace-events', 'Eg');
  const rota: Record<number, RatePhase> = {};
  const bull: Record<number, RatePhase> = {};
  try {
    const broker = await ctx.startBroker();
    for (const rate of ctx.knobs.rates) {
      ctx.log(`Rota at ${rate} jobs/s`);
      rota[rate] = await ratePhase(ctx, { kind: 'rota', broker }, rate);
    }
    await broker.stop();
  } finally {
    await ctx.redisClient.config('SET', 'notify-keyspace-events', previous[1] ?? '');
  }
  await ctx.flush();
  for (const rate of ctx.knobs.rates) {
    ctx.log(`BullMQ at ${rate} jobs/s`);
    bull[rate] = await ratePhase(ctx, { kind: 'bullmq', prefix: `bull-lat-${ctx.runId}` }, rate);
  }
  await ctx.flush();

  const rows: Row[] = [];
  const notes: string[] = [];
  for (const rate of ctx.knobs.rates) {
    const r = rota[rate]!;
    const b = bull[rate]!;
    for (const q of ['p50', 'p95', 'p99', 'max'] as const) {
      rows.push({
        metric: `${rate}/s enqueue→start ${q}`,
        unit: 'ms',
        rota: r.start[q],
        bullmq: b.start[q],
        better: 'lower',
      });
    }
    for (const q of ['p50', 'p95', 'p99', 'max'] as const) {
      rows.push({
        metric: `${rate}/s enqueue→completed ${q}`,
        unit: 'ms',
        rota: r.completedDist[q],
        bullmq: b.completedDist[q],
        better: 'lower',
      });
    }
    rows.push(
      {
        metric: `${rate}/s enqueue→ack sent p50 (Rota)`,
        unit: 'ms',
        rota: r.ack.p50,
        bullmq: null,
        better: 'lower',
      },
      {
        metric: `${rate}/s enqueue→ack sent p99 (Rota)`,
        unit: 'ms',
        rota: r.ack.p99,
        bullmq: null,
        better: 'lower',
      },
      {
        metric: `${rate}/s enqueue()/add() reply p50`,
        unit: 'ms',
        rota: r.enqueueCall.p50,
        bullmq: b.enqueueCall.p50,
        better: 'lower',
      },
      {
        metric: `${rate}/s enqueue()/add() reply p99`,
        unit: 'ms',
        rota: r.enqueueCall.p99,
        bullmq: b.enqueueCall.p99,
        better: 'lower',
      },
      {
        metric: `${rate}/s broker event-loop delay p99 (Rota)`,
        unit: 'ms',
        rota: r.loopDelay?.p99Ms ?? null,
        bullmq: null,
        better: 'lower',
      },
      {
        metric: `${rate}/s broker event-loop delay max (Rota)`,
        unit: 'ms',
        rota: r.loopDelay?.maxMs ?? null,
        bullmq: null,
        better: 'lower',
      },
      {
        metric: `${rate}/s broker CPU (share of a core)`,
        unit: '%',
        rota: r.cpuPercent.broker ?? null,
        bullmq: null,
      },
      {
        metric: `${rate}/s Redis CPU (share of a core)`,
        unit: '%',
        rota: r.cpuPercent.redis ?? null,
        bullmq: b.cpuPercent.redis ?? null,
      },
      {
        metric: `${rate}/s worker process CPU (share of a core)`,
        unit: '%',
        rota: r.cpuPercent.worker ?? null,
        bullmq: b.cpuPercent.worker ?? null,
      },
      {
        metric: `${rate}/s producer process CPU (share of a core)`,
        unit: '%',
        rota: r.cpuPercent.producer ?? null,
        bullmq: b.cpuPercent.producer ?? null,
      },
      {
        metric: `${rate}/s other load on the machine meanwhile (share of a core)`,
        unit: '%',
        rota: r.cpuPercent.other ?? null,
        bullmq: b.cpuPercent.other ?? null,
      },
    );
    for (const [name, phase] of [
      ['Rota', r],
      ['BullMQ', b],
    ] as const) {
      if (phase.maxLagMs > 50) {
        notes.push(
          `${name} at ${rate}/s: the producer fell up to ${phase.maxLagMs.toFixed(0)} ms behind its schedule`,
        );
      }
      if (phase.completed < phase.sent || phase.errors > 0) {
        notes.push(
          `${name} at ${rate}/s: ${phase.completed}/${phase.sent} completed, ${phase.errors} errors`,
        );
      }
      if (phase.completedDist.count < phase.start.count) {
        notes.push(
          `${name} at ${rate}/s: completion seen for ${phase.completedDist.count} of ${phase.start.count} jobs`,
        );
      }
    }
  }
  if (hops) {
    for (const q of ['p50', 'p99'] as const) {
      rows.push({
        metric: `one round trip ${q}: Rota a bare grpc-js call, BullMQ a Redis PING`,
        unit: 'ms',
        rota: hops.grpc[q],
        bullmq: hops.redis[q],
        better: 'lower',
      });
    }
  }
  const targets: TargetCheck[] = [];
  const r2 = rota[2000];
  const b2 = bull[2000];
  targets.push(
    r2 === undefined || b2 === undefined
      ? {
          target: 'latency at 2,000 jobs/s: p50 ≤ 1 ms and p99 ≤ BullMQ p99',
          measured: 'not run (2000 not in --rates)',
          met: null,
        }
      : {
          target: 'latency at 2,000 jobs/s (enqueue→completed): p50 ≤ 1 ms and p99 ≤ BullMQ p99',
          measured:
            `Rota p50 ${r2.completedDist.p50.toFixed(2)} ms, p99 ${r2.completedDist.p99.toFixed(2)} ms; BullMQ p50 ${b2.completedDist.p50.toFixed(2)} ms, p99 ${b2.completedDist.p99.toFixed(2)} ms` +
            (hops
              ? `; a bare grpc-js round trip here: p50 ${hops.grpc.p50.toFixed(2)} ms (a Rota job makes three one-way gRPC hops, 1.5 round trips)`
              : ''),
          met: r2.completedDist.p50 <= 1 && r2.completedDist.p99 <= b2.completedDist.p99,
        },
  );
  return {
    rows,
    targets,
    details: {
      rates: ctx.knobs.rates,
      warmupSeconds: ctx.knobs.warmupSeconds,
      measuredSeconds: ctx.knobs.latencySeconds,
      rota,
      bullmq: bull,
      roundTrips: hops,
    },
    charts: [],
    notes,
  };
}
