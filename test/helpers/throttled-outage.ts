/**
 * For tests of a write that fails again and again while Redis is down and is
 * logged through a ThrottledWarning: a broker whose warnings the test reads,
 * workers holding jobs, and what the warning's lines must look like.
 */
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterEach, expect } from 'vitest';
import type { EnqueueRequest } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import { eventually } from './broker.js';
import { useBroker, type Harness } from './harness.js';
import { checkHealth, serviceClient } from './health.js';
import type { RawWorker } from './raw-worker.js';

type Line = Record<string, unknown>;

/**
 * A harness whose broker's warnings land in `logged`, on a Redis whose jobs
 * survive its SIGKILL (AOF, appendfsync always). The broker fails a command
 * 1 s after it was sent at the latest (redisTimeoutMs), not only when ioredis
 * next gives up reconnecting (about 0.6 s after Redis went, then 3.7 s, then
 * every 15 s or so, with jitter): a write retried every second then fails
 * at a steady pace. After each test Redis is up and the broker serving again,
 * also when the test failed part way: the next one starts as the first did.
 */
export function useOutageBroker(): { h: Harness; logged: Line[] } {
  const logged: Line[] = [];
  const h = useBroker(
    { onLog: (line) => logged.push(line), redisTimeoutMs: 1000 },
    { appendfsync: 'always' },
  );
  afterEach(async () => {
    if (h.redis.pid === undefined) await h.redis.restart();
    const health = serviceClient(h.broker.address, healthProtoPath, 'grpc.health.v1.Health');
    try {
      await eventually(
        async () => ((await checkHealth(health, '')) === 'SERVING' ? true : undefined),
        { timeoutMs: 15_000 },
      );
    } finally {
      health.close();
    }
  });
  return { h, logged };
}

/** `count` workers on `queue` with one slot each, named w0, w1, … */
export async function oneSlotWorkers(
  h: Harness,
  queue: string,
  count: number,
): Promise<RawWorker[]> {
  const workers: RawWorker[] = [];
  for (let i = 0; i < count; i++) {
    workers.push(await h.worker({ worker_id: `w${i}`, queues: [queue], capacity: 1 }));
  }
  return workers;
}

/** `count` one-slot workers on `queue`, each holding the lease of one job enqueued with `job`. */
export async function workersHoldingJobs(
  h: Harness,
  queue: string,
  count: number,
  job: Omit<EnqueueRequest, 'queue'> = { tenant: 'acme' },
): Promise<{ workers: RawWorker[]; leases: Lease__Output[] }> {
  const workers = await oneSlotWorkers(h, queue, count);
  await h.enqueueBatch(Array.from({ length: count }, () => ({ ...job, queue })));
  const leases = await Promise.all(workers.map(async (worker) => (await worker.take(1))[0]!));
  return { workers, leases };
}

/**
 * The lines a ThrottledWarning logged over `windowMs`: some, at most one a
 * second (one more for the window's edges), and one that counts those it
 * left out.
 */
export function expectThrottled(lines: readonly Line[], windowMs: number): void {
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.length).toBeLessThanOrEqual(Math.ceil(windowMs / 1000) + 1);
  expect(lines.some((line) => Number(line.leftOut) > 0)).toBe(true);
}
