/**
 * Scale: end-to-end throughput with 1, 100 and 10,000 active tenants (the same
 * burst of batched jobs spread round-robin over them, workers connected, after
 * an unmeasured warm-up burst: see warmUp; in rounds, see throughputRounds), and
 * the broker's memory with 1,000,000 jobs queued: VmRSS of the broker process
 * while the jobs sit in Redis and a worker is connected (its handler holds its
 * leases, so the backlog stays), and the peak (VmHWM) over the whole test.
 */
import type { BenchContext, Row, ScenarioOutput, TargetCheck } from '../lib/context.js';
import { sleep } from '../lib/context.js';
import { statusKb } from '../lib/proc.js';
import { mean } from '../lib/stats.js';
import {
  burstPhase,
  phaseForJson,
  warmUp,
  producerCall,
  startProducers,
  startWorkers,
  workerCall,
  type BurstPhase,
} from './common.js';

function tenantNames(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

async function memoryTest(ctx: BenchContext): Promise<Record<string, number>> {
  const { rssJobs, rssTenants } = ctx.knobs;
  const broker = await ctx.startBroker();
  const mb = (kb: number): number => kb / 1024;
  const idleRss = mb(statusKb(broker.pid, 'VmRSS'));
  const queue = 'rss';
  const producer = producerCall(await startProducers(ctx, { kind: 'rota', broker }, queue));
  ctx.log(`queueing ${rssJobs} jobs over ${rssTenants} tenants`);
  const burst = await producer.call(
    'burst',
    {
      total: rssJobs,
      mode: 'batch',
      inflight: ctx.knobs.batchInflight,
      batchSize: ctx.knobs.batchSize,
      tenants: tenantNames(rssTenants, 'r'),
      stamp: false,
    },
    ctx.boundMs(rssJobs, 2000),
  );
  await producer.call('stop', {});
  const afterEnqueueRss = mb(statusKb(broker.pid, 'VmRSS'));
  const worker = workerCall(
    await startWorkers(ctx, { kind: 'rota', broker }, queue, {
      mode: 'hold',
      workers: 1,
      concurrency: ctx.knobs.concurrency,
    }),
  );
  await sleep(3000);
  const withWorkerRss = mb(statusKb(broker.pid, 'VmRSS'));
  const peakRss = mb(statusKb(broker.pid, 'VmHWM'));
  const held = (await worker.call('snapshot', {})).started;
  const memory = await ctx.redisClient.info('memory');
  const redisUsedMb = Number(/used_memory:(\d+)/.exec(memory)?.[1] ?? NaN) / 2 ** 20;
  await worker.call('stop', {});
  await broker.stop();
  await ctx.flush();
  return {
    jobsQueued: burst.sent,
    enqueuePerSec: burst.sent / ((burst.finishedAt - burst.startedAt) / 1000),
    idleRssMb: idleRss,
    afterEnqueueRssMb: afterEnqueueRss,
    withWorkerRssMb: withWorkerRss,
    peakRssMb: peakRss,
    leasesHeld: held,
    redisUsedMb,
  };
}

/** The mean of the rounds' phases of one tenant count (CPU: the broker's, µs per job). */
interface CountFigures {
  readonly enqueuePerSec: number;
  readonly endToEndPerSec: number;
  readonly brokerUsPerJob: number | null;
  /** Each round's end to end, in the order the rounds ran. */
  readonly endToEndByRound: readonly number[];
}

function countFigures(phases: readonly BurstPhase[]): CountFigures {
  const broker = phases.map((phase) => phase.cpu.broker?.usPerJob);
  return {
    enqueuePerSec: mean(phases.map((phase) => phase.enqueuePerSec)),
    endToEndPerSec: mean(phases.map((phase) => phase.endToEndPerSec)),
    brokerUsPerJob: broker.every((us) => us !== undefined) ? mean(broker) : null,
    endToEndByRound: phases.map((phase) => phase.endToEndPerSec),
  };
}

/**
 * The phases of every tenant count, round after round on one broker, every
 * other round in reverse order (1, 100, 10,000, then 10,000, 100, 1): the VM's
 * speed drifts by a third within minutes, and one pass in one order credited
 * that drift to whichever count ran last. Each round's tenants are new.
 */
async function throughputRounds(ctx: BenchContext): Promise<Map<number, BurstPhase[]>> {
  const { scaleTenants, scaleJobs } = ctx.knobs;
  const rounds = Math.max(1, Math.round(ctx.knobs.scaleRounds));
  const phases = new Map<number, BurstPhase[]>(scaleTenants.map((count) => [count, []]));
  const broker = await ctx.startBroker();
  await warmUp(ctx, { kind: 'rota', broker }, 'scale-warmup', ['warmup']);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? scaleTenants : [...scaleTenants].reverse();
    for (const count of order) {
      ctx.log(`round ${round + 1}/${rounds}: ${scaleJobs} jobs over ${count} tenants`);
      const phase = await burstPhase(
        ctx,
        { kind: 'rota', broker },
        {
          queue: `scale-${count}`,
          mode: 'batch',
          total: scaleJobs,
          tenants: tenantNames(count, `s${count}r${round}`),
        },
      );
      phases.get(count)!.push(phase);
    }
  }
  await broker.stop();
  await ctx.flush();
  return phases;
}

export async function scale(ctx: BenchContext): Promise<ScenarioOutput> {
  const phases = await throughputRounds(ctx);
  const memory = await memoryTest(ctx);

  const counts = ctx.knobs.scaleTenants;
  const figures = new Map(counts.map((count) => [count, countFigures(phases.get(count)!)]));
  const base = figures.get(counts[0]!)!;
  const rows: Row[] = [];
  const notes: string[] = [];
  const rounded = (values: readonly number[]): string =>
    values.map((value) => Math.round(value).toLocaleString('en-US')).join(' / ');
  for (const count of counts) {
    const figure = figures.get(count)!;
    const tenants = `${count.toLocaleString('en-US')} tenants`;
    rows.push(
      {
        metric: `${tenants}: enqueue (batches)`,
        unit: 'jobs/s',
        rota: figure.enqueuePerSec,
        bullmq: null,
        better: 'higher',
      },
      {
        metric: `${tenants}: end to end`,
        unit: 'jobs/s',
        rota: figure.endToEndPerSec,
        bullmq: null,
        better: 'higher',
      },
      {
        metric: `${tenants}: broker CPU`,
        unit: 'µs/job',
        rota: figure.brokerUsPerJob,
        bullmq: null,
        better: 'lower',
      },
    );
    if (count !== counts[0]) {
      rows.push({
        metric: `${tenants}: end-to-end loss vs ${counts[0]}`,
        unit: '%',
        rota: 100 * (1 - figure.endToEndPerSec / base.endToEndPerSec),
        bullmq: null,
        better: 'lower',
      });
    }
    if (figure.endToEndByRound.length > 1) {
      notes.push(`${tenants}: end to end by round ${rounded(figure.endToEndByRound)} jobs/s`);
    }
    for (const phase of phases.get(count)!) {
      if (phase.errors > 0 || phase.completed < phase.jobs) {
        notes.push(
          `${tenants}: ${phase.completed}/${phase.jobs} completed, ${phase.errors} errors ${phase.firstError}`,
        );
      }
    }
  }
  rows.push(
    {
      metric: 'broker RSS, idle after start',
      unit: 'MB',
      rota: memory.idleRssMb ?? null,
      bullmq: null,
    },
    {
      metric: `broker RSS, ${(memory.jobsQueued ?? 0).toLocaleString('en-US')} jobs queued`,
      unit: 'MB',
      rota: memory.afterEnqueueRssMb ?? null,
      bullmq: null,
      better: 'lower',
    },
    {
      metric: '… and a worker connected (holding its leases)',
      unit: 'MB',
      rota: memory.withWorkerRssMb ?? null,
      bullmq: null,
      better: 'lower',
    },
    {
      metric: 'broker peak RSS (VmHWM) during the test',
      unit: 'MB',
      rota: memory.peakRssMb ?? null,
      bullmq: null,
      better: 'lower',
    },
    {
      metric: 'Redis used_memory with those jobs',
      unit: 'MB',
      rota: memory.redisUsedMb ?? null,
      bullmq: null,
    },
    {
      metric: 'enqueue rate of those jobs (batches, no worker)',
      unit: 'jobs/s',
      rota: memory.enqueuePerSec ?? null,
      bullmq: null,
      better: 'higher',
    },
  );
  const targets: TargetCheck[] = [];
  const many = counts.find((c) => c >= 10_000);
  if (many !== undefined) {
    const manyFigure = figures.get(many)!;
    const loss = 1 - manyFigure.endToEndPerSec / base.endToEndPerSec;
    const rounds = manyFigure.endToEndByRound.length;
    targets.push({
      target: `${many.toLocaleString('en-US')} active tenants: ≤ 10% throughput loss`,
      measured: `end to end ${Math.round(manyFigure.endToEndPerSec)} vs ${Math.round(base.endToEndPerSec)} jobs/s with ${counts[0]} tenant(s)${rounds > 1 ? ` (means of ${rounds} rounds)` : ''}: ${(100 * loss).toFixed(1)}% loss`,
      // Against itself (no smaller count in the run) there is nothing to judge.
      met: Number.isFinite(loss) && counts[0]! < many ? loss <= 0.1 : null,
    });
  }
  const rss = Math.max(memory.withWorkerRssMb ?? NaN, memory.afterEnqueueRssMb ?? NaN);
  targets.push({
    target: `broker RSS < 250 MB with ${(memory.jobsQueued ?? 0).toLocaleString('en-US')} jobs queued`,
    measured: `${rss.toFixed(0)} MB with a worker connected (peak ${memory.peakRssMb?.toFixed(0)} MB)`,
    met: Number.isFinite(rss) && (memory.jobsQueued ?? 0) >= 1_000_000 ? rss < 250 : null,
  });
  return {
    rows,
    targets,
    details: {
      jobsPerTenantCount: ctx.knobs.scaleJobs,
      // per tenant count, one phase per round in the order the rounds ran
      phases: Object.fromEntries(
        [...phases].map(([count, list]) => [count, list.map((phase) => phaseForJson(phase))]),
      ),
      memory,
    },
    charts: [],
    notes,
  };
}
