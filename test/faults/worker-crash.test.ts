/**
 * Fault (a): worker processes are SIGKILLed while they run jobs. Their leases
 * must expire after the lease TTL and the jobs run again elsewhere; nothing
 * else may run twice and nothing may be lost.
 */
import { describe, expect, it } from 'vitest';

import { expectNothingLost, finish, until, useCluster } from './fixture.js';
import type { FaultWindow } from './invariants.js';
import { startCount } from './journal.js';

const clusters = useCluster();

describe('fault: worker killed mid-job', () => {
  it('re-runs the killed workers’ jobs and loses none', async () => {
    const { cluster, load } = await clusters.startUnderLoad(undefined, [20, 150]);
    const faults: FaultWindow[] = [];
    const killed: Array<{ agent: string; running: string[] }> = [];

    for (const [index, after] of [60, 170].entries()) {
      await until(`${after} jobs started`, () => startCount(cluster.journal()) >= after);
      const victim = cluster.workers[index]!;
      // Mid-job: kill only while it has handlers running.
      await until(`${victim.name} running a job`, () => cluster.runningOn(victim).length > 0);
      const start = Date.now();
      await victim.process.kill('SIGKILL');
      // Read after the kill: a handler can still finish (and ack) between the
      // wait above and the signal. The journal is written synchronously, so
      // what it shows open now is what the process died running.
      const running = cluster.runningOn(victim);
      faults.push({ kind: `kill -9 ${victim.name}`, start, end: Date.now() });
      killed.push({ agent: victim.name, running });
      await cluster.startWorker({ concurrency: 6 });
    }

    const report = await finish(cluster, load, faults);
    expectNothingLost(report, load);
    // Every job that was running in a killed process ran again somewhere else.
    const journal = cluster.journal();
    for (const { agent, running } of killed) {
      for (const jobId of running) {
        const elsewhere = journal.some(
          (r) => r.ev === 'start' && r.job === jobId && r.agent !== agent,
        );
        expect(elsewhere, `job ${jobId} of killed ${agent} re-run elsewhere`).toBe(true);
      }
    }
  });
});
