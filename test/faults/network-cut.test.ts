/**
 * Fault (d): the TCP connections between workers and the broker are cut (a
 * proxy in between destroys them and refuses new ones for a while). A short
 * cut must be survived by re-attaching the running jobs; a cut longer than the
 * lease TTL lets the leases expire, so only the jobs in flight then may run
 * twice.
 */
import { describe, expect, it } from 'vitest';

import { expectNothingLost, finish, until, useCluster } from './fixture.js';
import type { FaultWindow } from './invariants.js';
import { startCount } from './journal.js';
import { sleep } from './processes.js';

const clusters = useCluster();

describe('fault: worker↔broker connections cut', () => {
  it('loses no job across a short cut and a cut longer than the lease TTL', async () => {
    const { cluster, load } = await clusters.startUnderLoad({ proxy: true });
    const proxy = cluster.proxy!;
    const faults: FaultWindow[] = [];

    for (const [after, downMs] of [
      [60, 200],
      [170, 2500],
    ] as const) {
      await until(`${after} jobs started`, () => startCount(cluster.journal()) >= after);
      const reconnectsBefore = cluster.journal().filter((r) => r.ev === 'connected').length;
      const start = Date.now();
      proxy.cut();
      await sleep(downMs);
      proxy.restore();
      await until(
        'every worker reconnected',
        () =>
          cluster.journal().filter((r) => r.ev === 'connected').length >=
          reconnectsBefore + cluster.workers.length,
      );
      faults.push({ kind: `cut ${downMs} ms`, start, end: Date.now() });
    }

    const report = await finish(cluster, load, faults);
    expect(proxy.refused, 'reconnects were turned away while cut').toBeGreaterThan(0);
    expectNothingLost(report, load);
  });
});
