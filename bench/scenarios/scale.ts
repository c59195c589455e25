/**
 * Scale: end-to-end throughput with 1, 100 and 10,000 active tenants (the same
 * burst of batched jobs spread round-robin over them, workers connected, after
 * an unmeasured warm-up burst: see warmUp), and
 * the broker's memory with 1,000,000 jobs queued: VmRSS of the broker process
 * while the jobs sit in Redis and a worker is connected (its handler holds its
 * leases, so the backlog stays), and the peak (VmHWM) over the whole test.
 */
import type { BenchContext, Row, ScenarioOutput, TargetCheck } from '../lib/context.js';
import { sleep } from '../lib/context.js';
import { statusKb } from '../lib/proc.js';
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

export async function scale(ctx: BenchContext): Promise<ScenarioOutput> {
  const phases: Record<number, BurstPhase> = {};
  const broker = await ctx.startBroker();
  await warmUp(ctx, { kind: 'rota', broker }, 'scale-warmup', ['warmup']);
  for (const count of ctx.knobs.scaleTenants) {
    ctx.log(`${ctx.knobs.scaleJobs} jobs over ${count} tenants`);
    phases[count] = await burstPhase(
      ctx,
      { kind: 'rota', broker },
      {
        queue: `scale-${count}`,
        mode: 'batch',
        total: ctx.knobs.scaleJobs,
        tenants: tenantNames(count, `s${count}`),
      },
    );
  }
  await broker.stop();
  await ctx.flush();
  const memory = await memoryTest(ctx);

  const counts = ctx.knobs.scaleTenants;
  const base = phases[counts[0]!]!;
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const count of counts) {
    const phase = phases[count]!;
    rows.push(
      {
        metric: `${count.toLocaleString('en-US')} tenants: enqueue (batches)`,
        unit: 'jobs/s',
        rota: phase.enqueuePerSec,
        bullmq: null,
        better: 'higher',
      },
      {
        metric: `${count.toLocaleString('en-US')} tenants: end to end`,
        unit: 'jobs/s',
        rota: phase.endToEndPerSec,
        bullmq: null,
        better: 'higher',
      },
      {
        metric: `${count.toLocaleString('en-US')} tenants: broker CPU`,
        unit: 'µs/job',
        rota: phase.cpu.broker?.usPerJob ?? null,
        bullmq: null,
        better: 'lower',
      },
    );
    if (count !== counts[0]) {
      rows.push({
        metric: `${count.toLocaleString('en-US')} tenants: end-to-end loss vs ${counts[0]}`,
        unit: '%',
        rota: 100 * (1 - phase.endToEndPerSec / base.endToEndPerSec),
        bullmq: null,
        better: 'lower',
      });
    }
    if (phase.errors > 0 || phase.completed < phase.jobs) {
      notes.push(
        `${count} tenants: ${phase.completed}/${phase.jobs} completed, ${phase.errors} errors ${phase.firstError}`,
      );
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
    const loss = 1 - phases[many]!.endToEndPerSec / base.endToEndPerSec;
    targets.push({
      target: `${many.toLocaleString('en-US')} active tenants: ≤ 10% throughput loss`,
      measured: `end to end ${Math.round(phases[many]!.endToEndPerSec)} vs ${Math.round(base.endToEndPerSec)} jobs/s with ${counts[0]} tenant(s): ${(100 * loss).toFixed(1)}% loss`,
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
      phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, phaseForJson(v)])),
      memory,
    },
    charts: [],
    notes,
  };
}
