/**
 * `npx tsx bench/wakeup-cost.ts [--seconds 4] [--gaps 10,1,0]`
 *
 * What one event-loop wake-up costs this machine: a Redis PING round trip
 * from this process, again and again, with `gap` ms of idle between two
 * (0: back to back, the next one from setImmediate). Prints the CPU per
 * round trip, as the kernel accounts it (user + system, tick-sampled) and as
 * the scheduler measured it (/proc/self/schedstat, on-CPU nanoseconds), and
 * writes bench/results/wakeup-cost-<timestamp>.json.
 *
 * Why: at low rates a job is alone in each of its event-loop turns (a gRPC
 * message in, a Redis reply, an ack, another reply), and on a VM a turn that
 * starts from idle costs far more CPU than one in a busy loop (BENCHMARKS.md,
 * "Where Rota is still slow"). This shows it without Rota: the broker's CPU
 * per job at 100 jobs/s is about that cost times its turns per job.
 * Starts and stops its own redis-server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Redis } from 'ioredis';

import { startLocalRedis } from '../src/redis/local-server.js';
import { writeResults } from './lib/results-file.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    gaps: { type: 'string', default: '10,1,0' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'Usage: npx tsx bench/wakeup-cost.ts [--seconds 4] [--gaps 10,1,0]\n' +
      'CPU per Redis PING round trip with gap ms of idle between two (0: back to back).',
  );
  process.exit(0);
}
const seconds = Number(values.seconds);
const gaps = values.gaps.split(',').map(Number);
if (!(seconds > 0) || gaps.some((gap) => !(gap >= 0))) {
  console.error('--seconds must be > 0 and --gaps a list of numbers ≥ 0');
  process.exit(2);
}

/** On-CPU time of this thread so far, µs (the scheduler's own account, not tick-sampled). */
const onCpuMicros = (): number =>
  Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;

const dir = mkdtempSync(join(tmpdir(), 'rota-wakeup-cost-'));
const redis = await startLocalRedis({ dir, appendonly: false });
const client = new Redis(redis.url);
const results: Array<{
  gapMs: number;
  roundTrips: number;
  tickedMicrosPerTrip: number;
  onCpuMicrosPerTrip: number;
}> = [];
try {
  await client.ping();
  console.log('gap ms   round trips   CPU µs per trip (ticked)   on-CPU µs per trip (schedstat)');
  for (const gapMs of gaps) {
    const ticked = process.cpuUsage();
    const onCpu = onCpuMicros();
    const start = performance.now();
    let roundTrips = 0;
    while (performance.now() - start < seconds * 1000) {
      await client.ping();
      roundTrips++;
      if (gapMs > 0) await sleep(gapMs);
      else await new Promise(setImmediate);
    }
    const used = process.cpuUsage(ticked);
    const result = {
      gapMs,
      roundTrips,
      tickedMicrosPerTrip: (used.user + used.system) / roundTrips,
      onCpuMicrosPerTrip: (onCpuMicros() - onCpu) / roundTrips,
    };
    results.push(result);
    console.log(
      `${String(gapMs).padStart(6)}   ${String(roundTrips).padStart(11)}   ${result.tickedMicrosPerTrip.toFixed(0).padStart(24)}   ${result.onCpuMicrosPerTrip.toFixed(0).padStart(30)}`,
    );
  }
} finally {
  client.disconnect();
  await redis.kill();
  rmSync(dir, { recursive: true, force: true });
}
writeResults('wakeup-cost', { seconds, results });
