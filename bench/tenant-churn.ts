/**
 * `npx tsx bench/tenant-churn.ts [--tenants 200000] [--waves 4] [--jobs-per-tenant 2] [--warmup-tenants 10000] [--fresh-queues 2] [--configured 250] [--settle-s 20] [--stats-max-pairs N]`
 *
 * Whether the broker's memory stays bounded while tenants come and go: the
 * SaaS case of many tenants that each enqueue a few jobs and go quiet. A
 * warm-up wave, then `waves` waves of fresh tenant names (`tenants` in all),
 * each with `jobs-per-tenant` jobs, through one broker to one worker. Each
 * wave also sends a tenth of its tenants to `fresh-queues` queues of fresh
 * names (a worker of their own, closed after the wave), and gives
 * `configured` of its tenants settings by Admin.SetTenant (a rate, an
 * in-flight cap, a queue override). After each wave and `settle-s` seconds
 * of quiet (the broker's recovery sweep runs every 15 s with the default
 * lease TTL), prints the broker's heap after a forced full GC (node
 * --expose-gc, asked over IPC: see heapProbe in bench/lib/rota-broker.ts),
 * its RSS, and Redis's keys and memory, against the baseline taken after the
 * warm-up. Writes bench/results/tenant-churn-<timestamp>.json. Starts and
 * stops its own redis-server and broker on 127.0.0.1.
 *
 * What stays by design: a configured tenant's settings (in Redis, and
 * mirrored by every broker until changed; there is no call that deletes a
 * tenant), GetStats's pairs up to ROTA_STATS_MAX_PAIRS (50,000; an hour
 * without events forgets one), the metric labels of the first
 * ROTA_METRICS_MAX_TENANTS tenants, and per queue served a dispatcher and
 * its doorbell subscription.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { Producer, Worker, type JobInput } from '../clients/index.js';
import { startLocalRedis } from '../src/redis/local-server.js';
import { startRotaBroker, type BrokerProcess } from './lib/rota-broker.js';
import { writeResults } from './lib/results-file.js';

const USAGE =
  'Usage: npx tsx bench/tenant-churn.ts [--tenants 200000] [--waves 4] [--jobs-per-tenant 2] [--warmup-tenants 10000] [--fresh-queues 2] [--configured 250] [--settle-s 20] [--stats-max-pairs N]\n' +
  "The broker's heap (after a forced GC) and RSS, and Redis's keys, after waves of fresh tenants\n" +
  'that each enqueue a few jobs and go quiet, against a baseline after a warm-up wave.\n' +
  '--tenants: distinct tenants over the measured waves; --waves: how many waves;\n' +
  '--jobs-per-tenant: jobs each tenant enqueues; --warmup-tenants: tenants of the warm-up wave;\n' +
  '--fresh-queues: queues of fresh names per wave (a tenth of the tenants), each served by a worker closed after it;\n' +
  '--configured: tenants per wave given a rate, an in-flight cap and a queue override by SetTenant;\n' +
  '--settle-s: quiet seconds after each wave before the reading (the recovery sweep runs every 15 s);\n' +
  "--stats-max-pairs: the broker's ROTA_STATS_MAX_PAIRS (default: the broker's, 50,000), to see the rest apart from GetStats's pairs.";

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '200000' },
    waves: { type: 'string', default: '4' },
    'jobs-per-tenant': { type: 'string', default: '2' },
    'warmup-tenants': { type: 'string', default: '10000' },
    'fresh-queues': { type: 'string', default: '2' },
    configured: { type: 'string', default: '250' },
    'settle-s': { type: 'string', default: '20' },
    'stats-max-pairs': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const totalTenants = Number(values.tenants);
const waves = Number(values.waves);
const jobsPerTenant = Number(values['jobs-per-tenant']);
const warmupTenants = Number(values['warmup-tenants']);
const freshQueues = Number(values['fresh-queues']);
const configured = Number(values.configured);
const settleSeconds = Number(values['settle-s']);
const statsMaxPairs = values['stats-max-pairs'];
if (
  [totalTenants, waves, jobsPerTenant, warmupTenants].some((n) => !Number.isInteger(n) || n < 1)
) {
  console.error(
    '--tenants, --waves, --jobs-per-tenant and --warmup-tenants take positive integers',
  );
  process.exit(2);
}
if ([freshQueues, configured, settleSeconds].some((n) => !Number.isInteger(n) || n < 0)) {
  console.error('--fresh-queues, --configured and --settle-s take whole numbers, 0 or more');
  process.exit(2);
}
if (
  statsMaxPairs !== undefined &&
  !(Number.isInteger(Number(statsMaxPairs)) && Number(statsMaxPairs) >= 1)
) {
  console.error('--stats-max-pairs takes a positive integer');
  process.exit(2);
}

const QUEUE = 'churn';
const KEY_PREFIX = 'churn';
/** Jobs per EnqueueBatch call, and calls outstanding: enough to keep the broker busy, no more. */
const BATCH = 500;
const BATCHES_OUTSTANDING = 2;
/** A wave that has not completed in this long has lost jobs: the run stops. */
const WAVE_TIMEOUT_MS = 5 * 60_000;

interface Reading {
  wave: string;
  tenants: number;
  jobs: number;
  seconds: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  rssMb: number;
  redisKeys: number;
  /** Redis keys by what they are: the part after the tenant (queue names left out), or the index's name. */
  redisKeysByKind: Record<string, number>;
  redisUsedMb: number;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

const dir = mkdtempSync(join(tmpdir(), 'rota-tenant-churn-'));
const redisServer = await startLocalRedis({ dir, appendonly: false });
const redis = new Redis(redisServer.url);
let broker: BrokerProcess | undefined;
let producer: Producer | undefined;
const workers: Worker[] = [];
let completed = 0;
const handler = (): void => {
  completed++;
};
const readings: Reading[] = [];

async function read(wave: string, tenants: number, jobs: number, seconds: number): Promise<void> {
  const heap = await broker!.heap();
  const info = await redis.info('memory');
  const reading: Reading = {
    wave,
    tenants,
    jobs,
    seconds: Math.round(seconds * 10) / 10,
    heapUsedMb: mb(heap.heapUsed),
    heapTotalMb: mb(heap.heapTotal),
    externalMb: mb(heap.external),
    rssMb: mb(heap.rss),
    redisKeys: await redis.dbsize(),
    redisKeysByKind: await keysByKind(),
    redisUsedMb: mb(Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN)),
  };
  readings.push(reading);
  const base = readings[0]!;
  const delta = (now: number, then: number): string =>
    readings.length === 1 ? '' : ` (${now >= then ? '+' : ''}${(now - then).toFixed(1)})`;
  console.log(
    `${wave.padEnd(9)} ${String(tenants).padStart(8)} tenants ${String(jobs).padStart(8)} jobs ` +
      `${reading.seconds.toFixed(1).padStart(6)} s | heap ${reading.heapUsedMb.toFixed(1)} MB` +
      `${delta(reading.heapUsedMb, base.heapUsedMb)}, RSS ${reading.rssMb.toFixed(1)} MB` +
      `${delta(reading.rssMb, base.rssMb)} | Redis ${reading.redisKeys} keys, ${reading.redisUsedMb} MB`,
  );
  const kinds = Object.entries(reading.redisKeysByKind).slice(0, 6);
  console.log(`          Redis keys: ${kinds.map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
}

/**
 * The keys of the run by kind: a tenant's keys by what follows its queue
 * (`ready:0`, `levels`, …) or its own segment (`job`, `idem`, `slots`, …),
 * the others with their names left out. What a churned tenant leaves behind.
 */
async function keysByKind(): Promise<Record<string, number>> {
  const kinds: Record<string, number> = {};
  for await (const page of redis.scanStream({ count: 1000 }) as AsyncIterable<string[]>) {
    for (const key of page) {
      const close = key.indexOf('}:');
      let kind: string;
      if (close < 0) {
        // churn:queue:<queue>:tenants → queue:*:tenants; churn:tenant:<T> → tenant:*.
        const parts = key.slice(`${KEY_PREFIX}:`.length).split(':');
        kind =
          parts.length > 1
            ? `${parts[0]}:*${parts.length > 2 ? `:${parts.at(-1)}` : ''}`
            : parts[0]!;
      } else {
        const parts = key.slice(close + 2).split(':');
        // {T}:job:<id> → job; {T}:slots:until → slots:until; {T}:<queue>:ready:0 → <queue>:ready:0.
        if (['job', 'idem', '@call'].includes(parts[0]!)) kind = parts[0]!;
        else if (['slots', 'tokens'].includes(parts[0]!)) kind = parts.join(':');
        else kind = `<queue>:${parts.slice(1).join(':')}`;
      }
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.entries(kinds).sort(([, a], [, b]) => b - a));
}

/** One wave: its tenants' jobs enqueued in batches, until the workers have completed all of them. */
async function wave(name: string, tenants: number): Promise<void> {
  const started = performance.now();
  const queues = Array.from({ length: freshQueues }, (_, q) => `${QUEUE}-${name}-q${q}`);
  const waveWorkers = queues.map(
    (queue) =>
      new Worker({
        address: broker!.address,
        queues: [queue],
        concurrency: 32,
        handler,
        shutdownSignals: [],
      }),
  );
  await Promise.all(waveWorkers.map((worker) => worker.start()));
  const tenantName = (i: number): string => `${name}-t${i}`;
  for (let i = 0; i < Math.min(configured, tenants); i++) {
    await broker!.setTenant({
      tenant: tenantName(i),
      rate: 1000,
      max_in_flight: 2,
      queues: [{ queue: QUEUE, weight: 2 }],
    });
  }
  const jobs: JobInput[] = [];
  for (let i = 0; i < tenants; i++) {
    // A tenth of the tenants go to the wave's fresh queues.
    const queue = queues.length > 0 && i % 10 === 9 ? queues[i % queues.length]! : QUEUE;
    for (let j = 0; j < jobsPerTenant; j++) {
      jobs.push({ tenant: tenantName(i), queue, payload: { j }, maxAttempts: 1 });
    }
  }
  const target = completed + jobs.length;
  let next = 0;
  const sendBatches = async (): Promise<void> => {
    while (next < jobs.length) {
      const batch = jobs.slice(next, next + BATCH);
      next += BATCH;
      const results = await producer!.enqueueBatch(batch);
      const failed = results.find((item) => 'error' in item);
      if (failed !== undefined && 'error' in failed) throw failed.error;
    }
  };
  await Promise.all(Array.from({ length: BATCHES_OUTSTANDING }, sendBatches));
  const deadline = Date.now() + WAVE_TIMEOUT_MS;
  while (completed < target) {
    if (Date.now() > deadline) {
      throw new Error(`wave ${name}: ${target - completed} jobs not completed after 5 min`);
    }
    await sleep(100);
  }
  await Promise.all(waveWorkers.map((worker) => worker.close()));
  const seconds = (performance.now() - started) / 1000;
  await sleep(settleSeconds * 1000);
  await read(name, tenants, jobs.length, seconds);
}

try {
  broker = await startRotaBroker({
    redisUrl: redisServer.url,
    keyPrefix: KEY_PREFIX,
    completedRetentionMs: 0,
    heapProbe: true,
    env: statsMaxPairs === undefined ? {} : { ROTA_STATS_MAX_PAIRS: statsMaxPairs },
  });
  producer = new Producer({ address: broker.address, maxBatch: BATCH });
  workers.push(
    new Worker({
      address: broker.address,
      queues: [QUEUE],
      concurrency: 256,
      handler,
      shutdownSignals: [],
    }),
  );
  await workers[0]!.start();
  console.log(
    `${waves} waves of ${Math.ceil(totalTenants / waves)} fresh tenants × ${jobsPerTenant} jobs ` +
      `(after a warm-up of ${warmupTenants}); ${freshQueues} fresh queues and ${configured} configured tenants a wave; ` +
      `readings ${settleSeconds} s after each wave, heap after a full GC`,
  );
  await wave('warmup', warmupTenants);
  for (let w = 1; w <= waves; w++) {
    const from = Math.floor(((w - 1) * totalTenants) / waves);
    await wave(`w${w}`, Math.floor((w * totalTenants) / waves) - from);
  }
} finally {
  await Promise.allSettled([...workers.map((worker) => worker.close()), producer?.close()]);
  await broker?.stop();
  redis.disconnect();
  await redisServer.kill();
  rmSync(dir, { recursive: true, force: true });
}
writeResults('tenant-churn', {
  tenants: totalTenants,
  waves,
  jobsPerTenant,
  warmupTenants,
  freshQueues,
  configured,
  settleSeconds,
  statsMaxPairs: statsMaxPairs === undefined ? null : Number(statsMaxPairs),
  readings,
});
