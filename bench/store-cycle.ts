/**
 * `npx tsx bench/store-cycle.ts [--tenants 1,10000] [--jobs 50000] [--rounds 3] [--claim] [--commands] [--completed-retention-ms 0]`
 *
 * The store alone, without gRPC, scheduler or workers: per round, `jobs` jobs
 * spread over `tenants` tenants go through JobStore enqueue (batches of 1,000),
 * fetch, lease and complete, as the broker calls them. With `--claim`, each
 * enqueue batch claims its own jobs (as when workers wait for them) and they
 * are leased and completed batch by batch, with no fetch. Prints the CPU per job
 * of this process (ioredis, argument packing, reply parsing) and of Redis (the
 * scripts), per step, and writes bench/results/store-cycle-<timestamp>.json.
 * `--commands` also prints Redis's own account of each round (INFO
 * commandstats): calls and µs per job of every command, those the scripts make
 * included. What the scripts cost beyond their commands is the Lua side
 * (argument unpacking, redis.call conversions, building the reply).
 * `--completed-retention-ms` is the store's retention of completed jobs: 0
 * (deleted at once) as the bench's broker runs, above 0 as a broker keeping them.
 * Steadier than the end-to-end scenarios for A/B runs of store changes: run it
 * in two trees and compare. Starts and stops its own redis-server.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { startLocalRedis } from '../src/redis/local-server.js';
import { JobStore } from '../src/store/job-store.js';
import type { FetchedJob } from '../src/store/types.js';
import { newJob } from '../test/helpers/new-job.js';
import { cpuSeconds } from './lib/proc.js';
import { writeResults } from './lib/results-file.js';

const BATCH = 1000;
const STEPS = ['enqueue', 'fetch', 'lease', 'complete'] as const;
type Step = (typeof STEPS)[number];

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1,10000' },
    jobs: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    claim: { type: 'boolean', default: false },
    commands: { type: 'boolean', default: false },
    'completed-retention-ms': { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'Usage: npx tsx bench/store-cycle.ts [--tenants 1,10000] [--jobs 50000] [--rounds 3] [--claim] [--commands] [--completed-retention-ms 0]\n' +
      'CPU per job of the store (this process and Redis) through enqueue, fetch, lease, complete.\n' +
      '--claim: each enqueue batch reads its own jobs (a claim), then lease and complete; no fetch.\n' +
      '--commands: per round, the calls and µs per job of each Redis command (INFO commandstats).\n' +
      '--completed-retention-ms: how long completed jobs are kept (0, the default: deleted at once, as the bench runs the broker).',
  );
  process.exit(0);
}
const tenantCounts = values.tenants.split(',').map(Number);
const jobs = Number(values.jobs);
const rounds = Number(values.rounds);
const completedRetentionMs = Number(values['completed-retention-ms']);
if ([...tenantCounts, jobs, rounds].some((n) => !Number.isInteger(n) || n < 1)) {
  console.error('--tenants, --jobs and --rounds take positive integers');
  process.exit(2);
}
if (!Number.isInteger(completedRetentionMs) || completedRetentionMs < 0) {
  console.error('--completed-retention-ms takes a whole number, 0 or more');
  process.exit(2);
}

interface RoundResult {
  tenants: number;
  nodeUsPerJob: number;
  redisUsPerJob: number;
  redisUsPerJobByStep: Record<Step, number>;
  /** With --commands: per Redis command, calls and µs of Redis time per job. */
  commands?: Record<string, { callsPerJob: number; usPerJob: number }>;
}

const dir = mkdtempSync(join(tmpdir(), 'rota-store-cycle-'));
const server = await startLocalRedis({ dir, appendonly: false });
const redis = new Redis(server.url);
const store = new JobStore(redis, {
  keyPrefix: 'cycle:',
  consumer: 'cycle-broker',
  completedRetentionMs,
  deadRetentionMs: 60_000,
  idempotencyRetentionMs: 60_000,
});
const redisCpu = (): number => cpuSeconds(server.pid!) * 1e6;

async function round(tenants: number): Promise<RoundResult> {
  const byStep = { enqueue: 0, fetch: 0, lease: 0, complete: 0 };
  const timed = async <T>(step: Step, work: () => Promise<T>): Promise<T> => {
    const before = redisCpu();
    const result = await work();
    byStep[step] += redisCpu() - before;
    return result;
  };
  const settle = async (fetched: FetchedJob[]): Promise<void> => {
    const grants = fetched.map((job) => ({ job, token: randomUUID() }));
    const attempts = await timed('lease', () => store.lease(grants, now));
    if (attempts.includes(0)) throw new Error('a fetched job could not be leased');
    const acks = grants.map(({ job, token }) => ({
      tenant: job.tenant,
      queue: job.queue,
      jobId: job.id,
      token,
      result: Buffer.alloc(0),
      resultContentType: '',
      entry: job.entry,
      priority: job.priority,
    }));
    const outcomes = await timed('complete', () => store.complete(acks, now));
    if (outcomes.some((outcome) => outcome !== 'ok')) throw new Error(`complete: ${outcomes[0]}`);
  };
  const perTenant = Math.max(1, Math.ceil(BATCH / tenants));
  await redis.flushall();
  if (values.commands) await redis.config('RESETSTAT');
  const nodeBefore = process.cpuUsage();
  const redisBefore = redisCpu();
  const now = Date.now();
  for (let start = 0; start < jobs; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, jobs - start) }, (_, k) =>
      newJob(now, { tenant: `t${(start + k) % tenants}`, payload: Buffer.from('{"n":1}') }),
    );
    const claim = values.claim ? (tenant: string) => ({ tenant, count: perTenant }) : undefined;
    const { claimed } = await timed('enqueue', () => store.enqueue(batch, () => 0, now, claim));
    if (!values.claim) continue;
    const fetched = [...claimed.values()].flatMap((result) => {
      if (result instanceof Error) throw result;
      return result.jobs;
    });
    if (fetched.length !== batch.length)
      throw new Error(`claimed ${fetched.length} of ${batch.length}`);
    await settle(fetched);
  }
  const wants = Array.from({ length: tenants }, (_, t) => ({ tenant: `t${t}`, count: perTenant }));
  for (let done = values.claim ? jobs : 0; done < jobs;) {
    const fetched: FetchedJob[] = (
      await timed('fetch', () => store.fetch('q', wants, now))
    ).flatMap((result) => {
      if (result instanceof Error) throw result;
      return result.jobs;
    });
    if (fetched.length === 0) throw new Error(`fetch found nothing after ${done} of ${jobs} jobs`);
    await settle(fetched);
    done += fetched.length;
  }
  const node = process.cpuUsage(nodeBefore);
  const perJob = (us: number): number => Math.round((us / jobs) * 10) / 10;
  const commands = values.commands ? await commandsPerJob() : undefined;
  return {
    ...(commands ? { commands } : {}),
    tenants,
    nodeUsPerJob: perJob(node.user + node.system),
    redisUsPerJob: perJob(redisCpu() - redisBefore),
    redisUsPerJobByStep: Object.fromEntries(
      STEPS.map((step) => [step, perJob(byStep[step])]),
    ) as Record<Step, number>,
  };
}

/** INFO commandstats since the round's RESETSTAT, per job, costliest first. */
async function commandsPerJob(): Promise<
  Record<string, { callsPerJob: number; usPerJob: number }>
> {
  const rows = (await redis.info('commandstats'))
    .split('\n')
    .map((line) => /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && match[1] !== 'config|resetstat')
    .map((match) => ({ name: match[1]!, calls: Number(match[2]), usec: Number(match[3]) }))
    .sort((a, b) => b.usec - a.usec);
  return Object.fromEntries(
    rows.map(({ name, calls, usec }) => [
      name,
      {
        callsPerJob: Math.round((calls / jobs) * 100) / 100,
        usPerJob: Math.round((usec / jobs) * 100) / 100,
      },
    ]),
  );
}

const results: RoundResult[] = [];
try {
  for (const tenants of tenantCounts) {
    await round(tenants); // warm-up: JIT, script cache, Redis allocations
    for (let r = 0; r < rounds; r++) {
      const result = await round(tenants);
      results.push(result);
      const steps = STEPS.map((step) => `${step} ${result.redisUsPerJobByStep[step]}`).join(', ');
      console.log(
        `${tenants} tenants: this process ${result.nodeUsPerJob} µs/job, ` +
          `Redis ${result.redisUsPerJob} µs/job (${steps})`,
      );
      for (const [name, { callsPerJob, usPerJob }] of Object.entries(result.commands ?? {})) {
        console.log(
          `  ${name.padEnd(18)} ${callsPerJob.toFixed(2)} calls/job  ${usPerJob.toFixed(2)} µs/job`,
        );
      }
    }
  }
} finally {
  redis.disconnect();
  await server.kill();
  rmSync(dir, { recursive: true, force: true });
}
writeResults('store-cycle', { jobs, batch: BATCH, claim: values.claim, results });
