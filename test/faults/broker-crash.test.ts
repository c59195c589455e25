/**
 * Fault (b): the broker process is SIGKILLed mid-flight and restarted on the
 * same address, Redis and key prefix. Workers reconnect and re-attach what
 * they run; entries the dead broker had prefetched or leased come back after
 * the lease TTL; the producer retries Enqueues that failed while it was down.
 */
import { describe, it } from 'vitest';

import { expectNothingLost, finish, until, useCluster } from './fixture.js';
import type { FaultWindow } from './invariants.js';
import { startCount } from './journal.js';
import { sleep } from './processes.js';

const clusters = useCluster();

describe('fault: broker killed and restarted', () => {
  it('loses no job across two crashes (a short and a longer-than-TTL outage)', async () => {
    const { cluster, load } = await clusters.startUnderLoad();
    const faults: FaultWindow[] = [];

    // Down for ~0 ms (restart at once) and for 2 s (> lease TTL of 1.5 s).
    for (const [after, downMs] of [
      [60, 0],
      [170, 2000],
    ] as const) {
      await until(`${after} jobs started`, () => startCount(cluster.journal()) >= after);
      const start = Date.now();
      await cluster.killBroker();
      await sleep(downMs);
      await cluster.startBroker();
      faults.push({ kind: `kill -9 broker, down ${downMs} ms`, start, end: Date.now() });
    }

    const report = await finish(cluster, load, faults, { settleMs: 15_000 });
    expectNothingLost(report, load);
  });
});
