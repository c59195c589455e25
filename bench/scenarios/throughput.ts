/**
 * Throughput: P producers and the workers, no-op jobs, one tenant.
 * - single: enqueue() per job (Rota coalesces the calls of one tick into one
 *   EnqueueBatch RPC) vs BullMQ queue.add(), `inflight` calls outstanding per producer;
 * - batch: enqueueBatch() vs BullMQ addBulk(), chunks of `batchSize`.
 * Enqueue, dispatch and end-to-end jobs/s, and the CPU of each process per job.
 * Each system first runs an unmeasured warm-up burst (see warmUp).
 */
import type { BenchContext, Row, ScenarioOutput } from '../lib/context.js';
import { burstPhase, phaseForJson, warmUp, type BurstPhase, type System } from './common.js';

export async function throughput(ctx: BenchContext): Promise<ScenarioOutput> {
  const { jobs } = ctx.knobs;
  const tenants = ['tp'];
  const phases: Record<string, BurstPhase> = {};

  const broker = await ctx.startBroker();
  const rota: System = { kind: 'rota', broker };
  await warmUp(ctx, rota, 'tp-warmup', tenants);
  for (const mode of ['single', 'batch'] as const) {
    ctx.log(`Rota ${mode}: ${jobs} jobs`);
    phases[`rota-${mode}`] = await burstPhase(ctx, rota, {
      queue: `tp-${mode}`,
      mode,
      total: jobs,
      tenants,
    });
  }
  await broker.stop();
  await ctx.flush();

  const bull: System = { kind: 'bullmq', prefix: `bull-tp-${ctx.runId}` };
  await warmUp(ctx, bull, 'tp-warmup', tenants);
  for (const mode of ['single', 'batch'] as const) {
    ctx.log(`BullMQ ${mode === 'single' ? 'add' : 'addBulk'}: ${jobs} jobs`);
    phases[`bullmq-${mode}`] = await burstPhase(ctx, bull, {
      queue: `tp-${mode}`,
      mode,
      total: jobs,
      tenants,
    });
  }
  await ctx.flush();

  const get = (key: string): BurstPhase => phases[key]!;
  const rows: Row[] = [];
  for (const mode of ['single', 'batch'] as const) {
    const r = get(`rota-${mode}`);
    const b = get(`bullmq-${mode}`);
    const how = mode === 'single' ? 'enqueue() vs add()' : 'enqueueBatch() vs addBulk()';
    rows.push(
      {
        metric: `${mode}: enqueue (${how})`,
        unit: 'jobs/s',
        rota: r.enqueuePerSec,
        bullmq: b.enqueuePerSec,
        better: 'higher',
      },
      {
        metric: `${mode}: dispatch (jobs started by workers)`,
        unit: 'jobs/s',
        rota: r.dispatchPerSec,
        bullmq: b.dispatchPerSec,
        better: 'higher',
      },
      {
        metric: `${mode}: end to end`,
        unit: 'jobs/s',
        rota: r.endToEndPerSec,
        bullmq: b.endToEndPerSec,
        better: 'higher',
      },
      {
        metric: `${mode}: broker CPU`,
        unit: 'µs/job',
        rota: r.cpu.broker?.usPerJob ?? null,
        bullmq: null,
        better: 'lower',
      },
      {
        metric: `${mode}: Redis CPU`,
        unit: 'µs/job',
        rota: r.cpu.redis?.usPerJob ?? null,
        bullmq: b.cpu.redis?.usPerJob ?? null,
        better: 'lower',
      },
      {
        metric: `${mode}: worker process CPU`,
        unit: 'µs/job',
        rota: r.cpu.worker?.usPerJob ?? null,
        bullmq: b.cpu.worker?.usPerJob ?? null,
        better: 'lower',
      },
      {
        metric: `${mode}: producer process CPU`,
        unit: 'µs/job',
        rota: r.cpu.producer?.usPerJob ?? null,
        bullmq: b.cpu.producer?.usPerJob ?? null,
        better: 'lower',
      },
      {
        metric: `${mode}: broker CPU (share of a core)`,
        unit: '%',
        rota: r.cpu.broker?.corePercent ?? null,
        bullmq: null,
      },
      {
        metric: `${mode}: Redis CPU (share of a core)`,
        unit: '%',
        rota: r.cpu.redis?.corePercent ?? null,
        bullmq: b.cpu.redis?.corePercent ?? null,
      },
      {
        metric: `${mode}: other load on the machine meanwhile (share of a core)`,
        unit: '%',
        rota: r.otherCorePercent,
        bullmq: b.otherCorePercent,
      },
    );
  }
  const batchRatio = get('rota-batch').endToEndPerSec / get('bullmq-batch').endToEndPerSec;
  const singleRatio = get('rota-single').enqueuePerSec / get('bullmq-single').enqueuePerSec;
  const notes: string[] = [];
  for (const [key, phase] of Object.entries(phases)) {
    if (phase.errors > 0) notes.push(`${key}: ${phase.errors} errors (first: ${phase.firstError})`);
    if (phase.completed < phase.jobs)
      notes.push(`${key}: only ${phase.completed}/${phase.jobs} completed`);
  }
  return {
    rows,
    targets: [
      {
        target: 'end-to-end jobs/s ≥ 5× BullMQ (addBulk 1,000s, worker concurrency 50)',
        measured: `batch end to end: Rota ${Math.round(get('rota-batch').endToEndPerSec)} vs BullMQ ${Math.round(get('bullmq-batch').endToEndPerSec)} jobs/s = ${batchRatio.toFixed(2)}×`,
        met: Number.isFinite(batchRatio) ? batchRatio >= 5 : null,
      },
      {
        target: 'single-job enqueue() under concurrency ≥ BullMQ add()',
        measured: `enqueue(): ${Math.round(get('rota-single').enqueuePerSec)} vs add(): ${Math.round(get('bullmq-single').enqueuePerSec)} jobs/s = ${singleRatio.toFixed(2)}×`,
        met: Number.isFinite(singleRatio) ? singleRatio >= 1 : null,
      },
    ],
    details: {
      jobs,
      tenants,
      knobs: {
        producers: ctx.knobs.producers,
        inflight: ctx.knobs.inflight,
        batchInflight: ctx.knobs.batchInflight,
        batchSize: ctx.knobs.batchSize,
        rotaWorkers: ctx.knobs.workers,
        rotaConcurrency: ctx.knobs.concurrency,
        bullConcurrency: ctx.knobs.bullConcurrency,
      },
      phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, phaseForJson(v)])),
    },
    charts: [],
    notes,
  };
}
