/**
 * Vitest glue of the fault suite: a Cluster per test, always disposed (also
 * when the test fails), with a check that no child process is left; and the
 * end-of-test routine that settles the jobs and checks the invariants.
 */
import { afterEach, expect } from 'vitest';

import { Cluster, type ClusterOptions } from './cluster.js';
import {
  checkInvariants,
  leftovers,
  settle,
  summarize,
  type FaultWindow,
  type InvariantReport,
} from './invariants.js';
import { LoadGenerator, type LoadOptions } from './load.js';
import { liveChildren, sleep } from './processes.js';

/** Jobs each test of the suite's standard run produces. */
export const STANDARD_TOTAL = 300;

export function useCluster(): {
  start(options?: ClusterOptions): Promise<Cluster>;
  load(options: LoadOptions): LoadGenerator;
  /**
   * The suite's standard run: a cluster with three workers of concurrency 6,
   * and STANDARD_TOTAL jobs of `jobMs` each produced by four lanes.
   */
  startUnderLoad(
    options?: ClusterOptions,
    jobMs?: readonly [number, number],
  ): Promise<{ cluster: Cluster; load: LoadGenerator }>;
} {
  let clusters: Cluster[] = [];
  let loads: LoadGenerator[] = [];
  afterEach(async (context) => {
    const open = clusters;
    clusters = [];
    const openLoads = loads;
    loads = [];
    for (const load of openLoads) load.abort();
    await Promise.all(openLoads.map((load) => load.close()));
    const failed = context.task.result?.state === 'fail' && context.task.fails !== true;
    const survivors: number[] = [];
    for (const cluster of open) {
      if (failed) console.error(`logs of the failed test (${cluster.dir}):\n${cluster.logs(2500)}`);
      survivors.push(...(await cluster.dispose()));
    }
    expect(survivors, 'processes still alive after dispose').toEqual([]);
    // Our children only: redis-server, brokers and workers must all be gone.
    const children = liveChildren().filter((c) => c.command !== 'esbuild');
    expect(children, 'child processes left behind').toEqual([]);
  });
  return {
    async start(options) {
      const cluster = await Cluster.start(options);
      clusters.push(cluster);
      return cluster;
    },
    load(options) {
      const load = new LoadGenerator(options);
      loads.push(load);
      return load;
    },
    async startUnderLoad(options, jobMs = [20, 200]) {
      const cluster = await this.start(options);
      await Promise.all([1, 2, 3].map(() => cluster.startWorker({ concurrency: 6 })));
      const load = this.load({
        address: cluster.brokerAddress,
        total: STANDARD_TOTAL,
        concurrency: 4,
        pauseMs: 40,
        jobMs: [...jobMs],
      });
      return { cluster, load };
    },
  };
}

/** What every fault test holds at its end: nothing odd seen by the producer, no violation, every job done. */
export function expectNothingLost(report: InvariantReport, load: LoadGenerator): void {
  expect(load.anomalies).toEqual([]);
  expect(report.violations).toEqual([]);
  expect(report.completed).toBe(load.options.total);
}

/** Waits until `check` is true, polling; throws with `what` after the timeout. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Lets the load finish, settles every acked job, checks the invariants and logs the numbers. */
export async function finish(
  cluster: Cluster,
  load: LoadGenerator,
  faults: readonly FaultWindow[],
  { settleMs = 12_000 } = {},
): Promise<InvariantReport> {
  await load.done;
  const records = await settle(load.producer, load.acked, { timeoutMs: settleMs });
  const report = checkInvariants({
    acked: load.acked,
    records,
    journal: cluster.journal(),
    faults,
  });
  const left = await leftovers(cluster.brokerAddress, load.options.queue ?? 'faults', {
    token: cluster.auth?.admin,
  });
  if (left.length > 0) {
    report.violations.push(
      `state left behind after every job ended (Admin.GetStats): ${JSON.stringify(left)}`,
    );
  }
  console.info(
    `${summarize(report)}; enqueue retries ${load.retries}, acked as duplicate ${load.acked.filter((a) => a.duplicate).length}, ` +
      `anomalies ${load.anomalies.length}, faults ${faults.map((f) => `${f.kind}(${f.end - f.start} ms)`).join(' ')}`,
  );
  await load.close();
  return report;
}
