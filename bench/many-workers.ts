/**
 * `npx tsx bench/many-workers.ts [--streams 10,100,500,1000] [--rate 500] [--capacity 1000] [--seconds 12] [--rounds 2] [--processes 4] [--tenants 10] [--shared-connections] [--cpu-prof]`
 *
 * One broker and many worker streams: the same steady job rate and the same
 * total worker capacity (leases in flight) spread over 10, 100, 500 and 1,000
 * Work streams (capacity / streams each), in `--processes` worker processes of
 * several Worker instances each, every instance on an HTTP/2 connection of
 * its own (as workers in processes of their own are; `--shared-connections`
 * puts a process's streams on one). Per stream count, prints the broker's CPU
 * per job while the jobs run, its CPU per second while the streams are
 * connected and idle (their heartbeats), its memory with the streams
 * connected, enqueue → handler start p50 and p99, and whether every job
 * completed once; writes bench/results/many-workers-<timestamp>.json.
 * A fresh broker per stream count; `--rounds` goes over the counts again, so
 * the machine's drift shows beside the counts. `--cpu-prof` writes a V8 CPU
 * profile of each broker under bench/results/many-workers-<timestamp>-profiles/
 * and prints its top functions. Starts and stops its own redis-server, broker
 * and agents on 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { startLocalRedis } from '../src/redis/local-server.js';
import type { WorkerSnapshot } from './agents/protocol.js';
import { Agent, stopAll } from './lib/children.js';
import { formatProfile, summariseProfile, type ProfileSummary } from './lib/cpuprofile.js';
import { cpuSeconds, statusKb } from './lib/proc.js';
import { REPO_ROOT, startRotaBroker, type LoopDelay } from './lib/rota-broker.js';
import { distribution, round } from './lib/stats.js';

const USAGE =
  'Usage: npx tsx bench/many-workers.ts [--streams 10,100,500,1000] [--rate 500] [--capacity 1000] [--seconds 12] [--rounds 2] [--processes 4] [--tenants 10] [--shared-connections] [--cpu-prof]\n' +
  'One broker, the same job rate and total worker capacity spread over more and more Work streams:\n' +
  'broker CPU per job, idle CPU per second (heartbeats), memory, enqueue → start p50/p99, every job completed once.\n' +
  '--streams: the stream counts. --rate: jobs/s in all, single enqueues spread over --tenants tenants.\n' +
  '--capacity: leases in flight in all (capacity / streams per stream, at least 1). --seconds: of steady load per count.\n' +
  '--rounds: times over the counts. --processes: worker processes the streams are spread over.\n' +
  "--shared-connections: a process's streams on one HTTP/2 connection (default: one connection per stream).\n" +
  '--cpu-prof: a CPU profile of each broker, its top functions printed.';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '10,100,500,1000' },
    rate: { type: 'string', default: '500' },
    capacity: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '2' },
    processes: { type: 'string', default: '4' },
    tenants: { type: 'string', default: '10' },
    'shared-connections': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const streamCounts = values.streams.split(',').map(Number);
const [rate, capacity, seconds, rounds, processes, tenants] = [
  values.rate,
  values.capacity,
  values.seconds,
  values.rounds,
  values.processes,
  values.tenants,
].map(Number) as [number, number, number, number, number, number];
if ([...streamCounts, rate, capacity, seconds, rounds, processes, tenants].some((n) => !(n >= 1))) {
  console.error(`every option takes a number of at least 1\n${USAGE}`);
  process.exit(2);
}

/** Streams connected and idle before the load: the broker's CPU then is their heartbeats'. */
const IDLE_MS = 3000;
/** How long the jobs sent may take to complete after the last is sent. */
const DRAIN_TIMEOUT_MS = 30_000;

interface PhaseResult {
  round: number;
  streams: number;
  perStreamCapacity: number;
  sent: number;
  started: number;
  completed: number;
  errors: number;
  completedOnce: boolean;
  brokerUsPerJob: number;
  idleBrokerMsPerSecond: number;
  brokerRssMb: number;
  startP50Ms: number;
  startP99Ms: number;
  loopDelay: LoopDelay | undefined;
  profile?: ProfileSummary;
}

const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
const out = join(REPO_ROOT, 'bench', 'results');
const profileRoot = join(out, `many-workers-${stamp}-profiles`);
const dir = mkdtempSync(join(tmpdir(), 'rota-many-workers-'));
const redisServer = await startLocalRedis({ dir, appendonly: false });
const redis = new Redis(redisServer.url);

/** `total` split over `parts` as evenly as whole numbers go. */
const spread = (total: number, parts: number): number[] =>
  Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));

async function phase(streams: number, roundIndex: number): Promise<PhaseResult> {
  const keyPrefix = `mw-${roundIndex}-${streams}:`;
  const cpuProfileDir = values['cpu-prof']
    ? join(profileRoot, `${streams}-${roundIndex}`)
    : undefined;
  if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true });
  const broker = await startRotaBroker({
    redisUrl: redisServer.url,
    keyPrefix,
    completedRetentionMs: 0,
    cpuProfileDir,
  });
  const perStreamCapacity = Math.max(1, Math.round(capacity / streams));
  const queue = 'many';
  const workers: Array<Agent<'rota-worker'>> = [];
  const producer = await Agent.fork('rota-producer');
  try {
    for (const count of spread(streams, Math.min(processes, streams))) {
      const agent = await Agent.fork('rota-worker');
      workers.push(agent);
      await agent.call(
        'start',
        {
          address: broker.address,
          queue,
          workers: count,
          concurrency: perStreamCapacity,
          mode: 'noop',
          recordLatency: true,
          bucketMs: 1000,
          ownConnections: !values['shared-connections'],
        },
        120_000,
      );
    }
    await producer.call('start', { address: broker.address, queue, producers: 2 });
    await sleep(1000);
    const idleBefore = cpuSeconds(broker.pid);
    await sleep(IDLE_MS);
    const idleBrokerMsPerSecond = ((cpuSeconds(broker.pid) - idleBefore) * 1e6) / IDLE_MS;
    const brokerRssMb = statusKb(broker.pid, 'VmRSS') / 1024;
    await Promise.all(workers.map((agent) => agent.call('snapshot', { reset: true })));
    await broker.eventLoopDelay();
    const cpuBefore = cpuSeconds(broker.pid);
    const paced = await producer.call(
      'paced',
      {
        streams: Array.from({ length: tenants }, (_, t) => ({
          tenant: `t-${t}`,
          rate: rate / tenants,
        })),
        durationMs: seconds * 1000,
      },
      seconds * 1000 + 60_000,
    );
    const snapshot = async (withLatency = false): Promise<WorkerSnapshot[]> =>
      Promise.all(workers.map((agent) => agent.call('snapshot', { withLatency })));
    const sum = (snapshots: WorkerSnapshot[], field: 'started' | 'completed' | 'errors'): number =>
      snapshots.reduce((total, s) => total + s[field], 0);
    const drainEnd = Date.now() + DRAIN_TIMEOUT_MS;
    while (sum(await snapshot(), 'completed') < paced.sent && Date.now() < drainEnd) {
      await sleep(50);
    }
    const brokerUs = (cpuSeconds(broker.pid) - cpuBefore) * 1e6;
    const loopDelay = await broker.eventLoopDelay();
    await sleep(500); // a duplicate start, if any, shows up in the counts
    const final = await snapshot(true);
    const starts = final.flatMap((s) => Object.values(s.latency).flatMap((l) => l.start));
    const startMs = distribution(starts);
    const started = sum(final, 'started');
    const completed = sum(final, 'completed');
    const errors = sum(final, 'errors') + paced.errors;
    return {
      round: roundIndex,
      streams,
      perStreamCapacity,
      sent: paced.sent,
      started,
      completed,
      errors,
      completedOnce: started === paced.sent && completed === paced.sent && errors === 0,
      brokerUsPerJob: brokerUs / Math.max(1, completed),
      idleBrokerMsPerSecond,
      brokerRssMb,
      startP50Ms: startMs.p50,
      startP99Ms: startMs.p99,
      loopDelay,
    };
  } finally {
    await Promise.allSettled(workers.map((agent) => agent.call('stop', {}, 60_000)));
    await Promise.allSettled([producer, ...workers].map((agent) => agent.close()));
    await broker.stop();
    await redis.flushall();
  }
}

/** The main thread's profile of a broker (tsx's loader thread writes one too). */
function brokerProfile(profileDir: string): ProfileSummary | undefined {
  const file = readdirSync(profileDir).find((name) => /\.0\.\d+\.cpuprofile$/.test(name));
  return file === undefined ? undefined : summariseProfile(join(profileDir, file), REPO_ROOT, 12);
}

const results: PhaseResult[] = [];
const cell = (value: number | string, width: number): string => String(value).padStart(width);
try {
  console.log(
    `${rate} jobs/s over ${tenants} tenants, ${capacity} leases of capacity in all, ${seconds} s per count; ` +
      `${processes} worker processes, ${values['shared-connections'] ? 'one connection per process' : 'one connection per stream'}`,
  );
  console.log(
    'round  streams  cap/stream  broker µs/job  idle ms/s  RSS MB  start p50 ms  start p99 ms  loop p99 ms  completed once',
  );
  for (let r = 1; r <= rounds; r++) {
    for (const streams of streamCounts) {
      const result = await phase(streams, r);
      if (values['cpu-prof']) result.profile = brokerProfile(join(profileRoot, `${streams}-${r}`));
      results.push(result);
      console.log(
        [
          cell(r, 5),
          cell(streams, 7),
          cell(result.perStreamCapacity, 10),
          cell(round(result.brokerUsPerJob), 13),
          cell(round(result.idleBrokerMsPerSecond, 1), 9),
          cell(round(result.brokerRssMb), 6),
          cell(round(result.startP50Ms, 2), 12),
          cell(round(result.startP99Ms, 2), 12),
          cell(result.loopDelay === undefined ? '-' : round(result.loopDelay.p99Ms, 1), 11),
          `  ${result.completedOnce ? 'yes' : 'NO'} (${result.completed}/${result.sent}, ${result.started} starts, ${result.errors} errors)`,
        ].join('  '),
      );
      if (result.profile) console.log(formatProfile(result.profile, 12));
    }
  }
} finally {
  redis.disconnect();
  await stopAll();
  await redisServer.kill();
  rmSync(dir, { recursive: true, force: true });
}
mkdirSync(out, { recursive: true });
const file = join(out, `many-workers-${stamp}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      rate,
      capacity,
      seconds,
      tenants,
      processes,
      sharedConnections: values['shared-connections'],
      results,
    },
    null,
    2,
  ),
);
console.log(`→ ${file}`);
