/**
 * Fault (c): redis-server (AOF, appendfsync always) is SIGKILLed and restarted
 * on the same port and folder while the producer and the workers keep going.
 * Every Enqueue that returned OK was fsynced before the reply, so it must
 * survive; Enqueues that failed are retried with the same idempotency key.
 */
import { describe, expect, it } from 'vitest';

import { waitBrokerReady } from './cluster.js';
import { expectNothingLost, finish, until, useCluster } from './fixture.js';
import type { FaultWindow } from './invariants.js';
import { startCount } from './journal.js';
import { sleep } from './processes.js';

const clusters = useCluster();

describe('fault: redis-server killed and restarted', () => {
  it('keeps every acknowledged job through two Redis crashes', async () => {
    const { cluster, load } = await clusters.startUnderLoad({ appendfsync: 'always' });
    const faults: FaultWindow[] = [];

    for (const [after, downMs] of [
      [60, 200],
      [170, 1500],
    ] as const) {
      await until(`${after} jobs started`, () => startCount(cluster.journal()) >= after);
      const start = Date.now();
      await cluster.redis.kill();
      await sleep(downMs);
      await cluster.redis.restart();
      await waitBrokerReady(cluster.brokerAddress, cluster.broker);
      faults.push({ kind: `kill -9 redis, down ${downMs} ms`, start, end: Date.now() });
    }

    const report = await finish(cluster, load, faults, { settleMs: 15_000 });
    expect(cluster.broker?.alive, 'broker survived the Redis crashes').toBe(true);
    expectNothingLost(report, load);
  });
});
