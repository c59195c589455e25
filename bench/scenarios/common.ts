/**
 * Building blocks the scenarios share: start a system's workers and producers
 * (Rota or BullMQ, same knobs), and run one burst from first enqueue to last
 * completion while measuring the CPU of every process involved.
 */
import type { WorkerSnapshot } from '../agents/protocol.js';
import type { Agent } from '../lib/children.js';
import type { BenchContext } from '../lib/context.js';
import { CpuMeter } from '../lib/proc.js';
import type { BrokerProcess } from '../lib/rota-broker.js';

/** How long workers may take to connect (a Rota Worker: until its first Welcome). */
const START_TIMEOUT_MS = 30_000;

export type System = { kind: 'rota'; broker: BrokerProcess } | { kind: 'bullmq'; prefix: string };

export interface WorkerSetup {
  recordLatency?: boolean;
  durableSignal?: boolean;
  bucketMs?: number;
  mode?: 'noop' | 'hold';
  /** Rota: leases per Worker instance (default: the --concurrency knob). */
  concurrency?: number;
  workers?: number;
  /** Rota: replicas of the broker (same Redis keys); the Worker instances are spread over all. */
  replicas?: readonly BrokerProcess[];
}

export type WorkerAgent = Agent<'rota-worker'> | Agent<'bullmq-worker'>;
export type ProducerAgent = Agent<'rota-producer'> | Agent<'bullmq-producer'>;

export async function startWorkers(
  ctx: BenchContext,
  system: System,
  queue: string,
  setup: WorkerSetup = {},
): Promise<WorkerAgent> {
  const common = {
    queue,
    redisUrl: ctx.redis.url,
    mode: setup.mode ?? 'noop',
    recordLatency: setup.recordLatency ?? false,
    durableSignal: setup.durableSignal ?? false,
    bucketMs: setup.bucketMs ?? 100,
  } as const;
  if (system.kind === 'rota') {
    const agent = await ctx.agent('rota-worker');
    await agent.call(
      'start',
      {
        ...common,
        address: [system.broker, ...(setup.replicas ?? [])].map((b) => b.address).join(','),
        workers: setup.workers ?? ctx.knobs.workers,
        concurrency: setup.concurrency ?? ctx.knobs.concurrency,
      },
      START_TIMEOUT_MS,
    );
    return agent;
  }
  const agent = await ctx.agent('bullmq-worker');
  await agent.call(
    'start',
    {
      ...common,
      prefix: system.prefix,
      workers: 1,
      concurrency: ctx.knobs.bullConcurrency,
    },
    START_TIMEOUT_MS,
  );
  return agent;
}

export async function startProducers(
  ctx: BenchContext,
  system: System,
  queue: string,
  producers = ctx.knobs.producers,
): Promise<ProducerAgent> {
  if (system.kind === 'rota') {
    const agent = await ctx.agent('rota-producer');
    await agent.call(
      'start',
      { queue, producers, address: system.broker.address },
      START_TIMEOUT_MS,
    );
    return agent;
  }
  const agent = await ctx.agent('bullmq-producer');
  await agent.call(
    'start',
    { queue, producers, redisUrl: ctx.redis.url, prefix: system.prefix },
    START_TIMEOUT_MS,
  );
  return agent;
}

/** The agents' calls typed once (Agent<'rota-…'> and Agent<'bullmq-…'> share an API). */
export function workerCall(agent: WorkerAgent): Agent<'rota-worker'> {
  return agent as Agent<'rota-worker'>;
}
export function producerCall(agent: ProducerAgent): Agent<'rota-producer'> {
  return agent as Agent<'rota-producer'>;
}

export interface CpuFigure {
  cpuSeconds: number;
  /** Share of one core over the run. */
  corePercent: number;
  /** CPU µs spent per job. */
  usPerJob: number;
}

export interface BurstPhase {
  jobs: number;
  completed: number;
  errors: number;
  firstError: string;
  enqueuePerSec: number;
  /** Handler starts ÷ (first enqueue call → last handler start): the rate jobs went out to workers. */
  dispatchPerSec: number;
  endToEndPerSec: number;
  enqueueSeconds: number;
  dispatchSeconds: number;
  endToEndSeconds: number;
  cpu: Record<string, CpuFigure>;
  /** CPU used by everything else on the machine meanwhile, % of one core. */
  otherCorePercent: number;
  snapshot: WorkerSnapshot;
}

export interface BurstSetup {
  queue: string;
  mode: 'single' | 'batch';
  total: number;
  tenants: string[];
  tenantRun?: number;
  worker?: WorkerSetup;
}

/**
 * An unmeasured burst (`warmupJobs`, batched) before a system's first measured
 * phase. A fresh broker and fresh agent processes run their first jobs with
 * cold JIT code and connections: measured cold, scale's first phase (1 tenant)
 * did 15,712 / 16,185 jobs/s end to end where the same phase repeated did
 * 18,616 / 18,953, which understated what 10,000 tenants cost against it.
 */
export async function warmUp(
  ctx: BenchContext,
  system: System,
  queue: string,
  tenants: string[],
): Promise<void> {
  const total = ctx.knobs.warmupJobs;
  if (total <= 0) return;
  ctx.log(`${system.kind === 'rota' ? 'Rota' : 'BullMQ'} warm-up: ${total} jobs, not measured`);
  await burstPhase(ctx, system, { queue, mode: 'batch', total, tenants });
}

/**
 * Workers connected and idle, then producers send `total` jobs as fast as the
 * system takes them. Enqueue rate = jobs / (first call → last reply);
 * dispatch rate = handler starts / (first call → last handler start);
 * end-to-end rate = jobs / (first call → last completion at the worker).
 */
export async function burstPhase(
  ctx: BenchContext,
  system: System,
  setup: BurstSetup,
): Promise<BurstPhase> {
  const worker = workerCall(await startWorkers(ctx, system, setup.queue, setup.worker));
  const producer = producerCall(await startProducers(ctx, system, setup.queue));
  const pids: Record<string, number> = {
    redis: ctx.redisPid,
    worker: worker.pid,
    producer: producer.pid,
  };
  if (system.kind === 'rota') pids.broker = system.broker.pid;
  await worker.call('snapshot', { reset: true });
  const meter = new CpuMeter(pids);
  meter.start();
  const burst = await producer.call(
    'burst',
    {
      total: setup.total,
      mode: setup.mode,
      inflight: setup.mode === 'single' ? ctx.knobs.inflight : ctx.knobs.batchInflight,
      batchSize: ctx.knobs.batchSize,
      tenants: setup.tenants,
      tenantRun: setup.tenantRun ?? 1,
      stamp: false,
    },
    ctx.boundMs(setup.total, 200),
  );
  const wait = await worker.call(
    'waitFor',
    { completed: burst.sent, timeoutMs: ctx.boundMs(setup.total, 200) },
    ctx.boundMs(setup.total, 200) + 10_000,
  );
  const cpu = meter.stop();
  const snapshot = await worker.call('snapshot', {});
  await worker.call('stop', {});
  await producer.call('stop', {});
  if (!wait.reached) {
    ctx.log(`only ${snapshot.completed} of ${burst.sent} jobs completed before the timeout`);
  }
  const enqueueSeconds = (burst.finishedAt - burst.startedAt) / 1000;
  const dispatchSeconds = (snapshot.lastStartAt - burst.startedAt) / 1000;
  const endToEndSeconds = (snapshot.lastDoneAt - burst.startedAt) / 1000;
  const figures: Record<string, CpuFigure> = {};
  for (const [name, figure] of Object.entries(cpu.processes)) {
    figures[name] = { ...figure, usPerJob: (1e6 * figure.cpuSeconds) / Math.max(1, burst.sent) };
  }
  return {
    jobs: burst.sent,
    completed: snapshot.completed,
    errors: burst.errors + snapshot.errors,
    firstError: burst.firstError,
    enqueuePerSec: burst.sent / enqueueSeconds,
    dispatchPerSec: wait.reached ? snapshot.started / dispatchSeconds : NaN,
    endToEndPerSec: wait.reached ? snapshot.completed / endToEndSeconds : NaN,
    enqueueSeconds,
    dispatchSeconds,
    endToEndSeconds,
    cpu: figures,
    otherCorePercent: cpu.otherCorePercent,
    snapshot,
  };
}

/** Drops the heavy parts of a phase for the JSON (timelines of big runs). */
export function phaseForJson(phase: BurstPhase): Omit<BurstPhase, 'snapshot'> {
  const rest: Partial<BurstPhase> = { ...phase };
  delete rest.snapshot;
  return rest as Omit<BurstPhase, 'snapshot'>;
}
