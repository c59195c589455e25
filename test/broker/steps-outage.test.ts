/**
 * Operator calls that work in steps (a purge; a replay or delete of dead
 * letters, all or by ids) whose Redis connection drops after their first step:
 * the jobs of that step stay done, and the caller, the metric and the log say
 * how many (and which named ids were not found), so a second call (which takes
 * only the jobs still there) finishes the job.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TcpProxy } from '../faults/proxy.js';
import { call, eventually, rawClients, type TestBroker } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';
import { scrape, value } from '../helpers/metrics.js';

const h = useBroker();

interface PeerBehindProxy {
  readonly proxy: TcpProxy;
  readonly peer: TestBroker;
  readonly clients: ReturnType<typeof rawClients>;
  /** The peer's log lines. */
  readonly logged: Array<Record<string, unknown>>;
}

/** Runs `test` with a peer that reaches Redis through a proxy; the harness's broker does not. */
async function withPeerBehindProxy(test: (setup: PeerBehindProxy) => Promise<void>): Promise<void> {
  const proxy = await TcpProxy.start(h.redis.port);
  const logged: Array<Record<string, unknown>> = [];
  const peer = await h.startPeer({
    redisUrl: `redis://${proxy.address}`,
    metricsAddress: '127.0.0.1:0',
    onLog: (line) => logged.push(line),
  });
  const clients = rawClients(peer.address);
  try {
    await test({ proxy, peer, clients, logged });
  } finally {
    clients.close();
    await peer.shutdown();
    await proxy.close();
  }
}

/**
 * Restores the peer's path to Redis and waits until a command of its gets
 * through. Called at once, the call after the outage could time out while
 * the peer reconnected, its step then running in Redis all the same: the
 * retry found those jobs gone and answered fewer than the test expected.
 */
async function restoreAndReconnect(proxy: TcpProxy, peer: TestBroker): Promise<void> {
  proxy.restore();
  await eventually(async () => {
    await peer.broker.store.queues();
    return true;
  });
}

/**
 * How many jobs the step that the cut stopped took after all, from the jobs
 * `left` once the peer reaches Redis again: none, or the step's `size`. Why
 * it can run: its command was sent when the connection dropped. When a
 * reconnection got as far as a TCP connect (the proxy accepts, then resets),
 * ioredis keeps the command to send again rather than failing it with the
 * retries; it fails on the command timeout (the call answers UNAVAILABLE),
 * and ioredis sends it all the same once the connection is back
 * (redis/ioredis#2130). The call after must take what is left, and only that.
 */
function tookLate(left: number, leftIfNot: number, size: number): number {
  expect([leftIfNot, leftIfNot - size]).toContain(left);
  return leftIfNot - left;
}

/**
 * What a step cut short says of Redis: the cut connection's error, or, when
 * the step's command waited for a reconnection and timed out (see tookLate),
 * the timeout's.
 */
const UNREACHABLE =
  'Redis is unreachable \\(.*\\)(?:; retry later|: the call may still take effect when Redis answers; retry it \\(.*\\))';

/** The error a call fails with; undefined when it succeeds. */
const failureOf = (pending: Promise<unknown>): Promise<ServiceError | undefined> =>
  pending.then(
    () => undefined,
    (e: unknown) => e as ServiceError,
  );

describe('a purge that fails part way', () => {
  it('answers UNAVAILABLE with the jobs purged before, counts and logs them', async () => {
    await withPeerBehindProxy(async ({ proxy, peer, clients, logged }) => {
      for (let i = 0; i < 3; i++) {
        await h.enqueueBatch(
          Array.from({ length: 400 }, () => ({ tenant: 'acme', queue: 'flood' })),
        );
      }
      const purge = (): Promise<unknown> =>
        call(clients.admin.PurgeQueue.bind(clients.admin), { tenant: 'acme', queue: 'flood' });
      // Every step but the first sends the cursor its step before answered,
      // 'delayed …' or 'ready …': the connection drops before the second reaches Redis.
      const cut = proxy.cutWhenSent(/\r\n(?:ready|delayed) /);
      const failed = await failureOf(purge());
      await cut;
      expect(failed?.code).toBe(status.UNAVAILABLE);
      expect(failed?.details).toMatch(
        new RegExp(
          `^${UNREACHABLE}; the purge stopped after 500 jobs were cancelled: call PurgeQueue again to cancel the rest$`,
        ),
      );
      expect(logged).toContainEqual(
        expect.objectContaining({ tenant: 'acme', queue: 'flood', purged: 500 }),
      );
      await restoreAndReconnect(proxy, peer);
      const labels = 'tenant="acme",queue="flood",reason="purge"';
      expect(value(await scrape(peer.metricsUrl!), 'rota_jobs_cancelled_total', labels)).toBe(500);

      const [row] = (await h.stats({ queue: 'flood', tenant: 'acme' })).entries;
      const late = tookLate(Number(row?.waiting), 700, 500);
      expect(await eventually(purge)).toEqual({ purged: 700 - late });
      expect(value(await scrape(peer.metricsUrl!), 'rota_jobs_cancelled_total', labels)).toBe(
        1200 - late,
      );
    });
  });
});

/** Kills `count` jobs of acme's `queue` (one attempt each, failed); answers their ids. */
async function deadJobs(queue: string, count: number): Promise<string[]> {
  const { results } = await h.enqueueBatch(
    Array.from({ length: count }, () => ({ tenant: 'acme', queue, max_attempts: 1 })),
  );
  const worker = await h.worker({ queues: [queue], capacity: count });
  for (const lease of await worker.take(count)) worker.fail(lease, 'nope');
  await eventually(async () => {
    const [row] = (await h.stats({ queue, tenant: 'acme' })).entries;
    return row?.dead === String(count) ? true : undefined;
  });
  worker.drop(); // a replayed job stays waiting
  return results.map((result) => result.job_id);
}

describe.each([
  { action: 'replay', rpc: 'ReplayDeadLetters', field: 'replayed' },
  { action: 'delete', rpc: 'DeleteDeadLetters', field: 'deleted' },
] as const)('a $rpc that fails part way', ({ action, rpc, field }) => {
  const takeWith =
    (clients: PeerBehindProxy['clients']) =>
    (request: { tenant: string; queue: string; all?: boolean; job_ids?: string[] }) =>
      action === 'replay'
        ? call(clients.admin.ReplayDeadLetters.bind(clients.admin), request)
        : call(clients.admin.DeleteDeadLetters.bind(clients.admin), request);

  it(`of all dead letters, answers UNAVAILABLE with the jobs ${field} before, counts and logs them`, async () => {
    const queue = `${action}-graveyard`;
    const count = 600; // two steps of 500
    await deadJobs(queue, count);

    await withPeerBehindProxy(async ({ proxy, peer, clients, logged }) => {
      const takeAll = (): Promise<unknown> =>
        takeWith(clients)({ tenant: 'acme', queue, all: true });
      // The steps after the first send the first's death-time bound ('' in the
      // first) after the step size: the connection drops before the second reaches Redis.
      const cut = proxy.cutWhenSent(/\r\n500\r\n\$\d+\r\n\d/);
      const failed = await failureOf(takeAll());
      await cut;
      expect(failed?.code).toBe(status.UNAVAILABLE);
      expect(failed?.details).toMatch(
        new RegExp(
          `^${UNREACHABLE}; the ${action} stopped after 500 dead jobs were ${field}: call ${rpc} again to ${action} the rest$`,
        ),
      );
      expect(logged).toContainEqual(
        expect.objectContaining({ tenant: 'acme', queue, [field]: 500 }),
      );
      await restoreAndReconnect(proxy, peer);
      const labels = `tenant="acme",queue="${queue}",reason="${action}"`;
      const taken = async (): Promise<number> =>
        value(await scrape(peer.metricsUrl!), 'rota_jobs_dead_letters_taken_total', labels);
      expect(await taken()).toBe(500);

      const [row] = (await h.stats({ queue, tenant: 'acme' })).entries;
      const late = tookLate(Number(row?.dead), 100, 100);
      expect(await eventually(takeAll)).toEqual({ [field]: 100 - late, not_found: [] });
      expect(await taken()).toBe(count - late);
    });
  });

  it(`by job ids, also names the ids the steps before did not find`, async () => {
    // A call made again answers the ids the failed call took as not found
    // too: only the failed call can tell the caller which never named a dead job.
    const queue = `${action}-named-graveyard`;
    const dead = await deadJobs(queue, 600);
    const madeUp = Array.from({ length: 25 }, (_, i) => `made-up-${i}`);
    const jobIds = [...madeUp, ...dead]; // the first step: 25 made up, 475 dead

    await withPeerBehindProxy(async ({ proxy, peer, clients, logged }) => {
      const take = (): Promise<{ not_found: string[] }> =>
        takeWith(clients)({ tenant: 'acme', queue, job_ids: jobIds });
      // The second step is the first to send the 476th dead job's id.
      const cut = proxy.cutWhenSent(new RegExp(`\\$${dead[475]!.length}\\r\\n${dead[475]}\\r\\n`));
      const failed = await failureOf(take());
      await cut;
      expect(failed?.code).toBe(status.UNAVAILABLE);
      const listed = madeUp.slice(0, 20).join(', ');
      expect(failed?.details.replace(/^.*; retry later/, '')).toBe(
        `; the ${action} stopped after 475 dead jobs were ${field} and 25 job_ids were not found (${listed} and 5 more): call ${rpc} again to ${action} the rest`,
      );
      expect(logged).toContainEqual(
        expect.objectContaining({
          tenant: 'acme',
          queue,
          [field]: 475,
          notFound: madeUp.slice(0, 20),
          notFoundCount: 25,
        }),
      );
      await restoreAndReconnect(proxy, peer);
      // Once the peer reaches Redis again: a retry that failed part way (the
      // connection still coming back) would take some of the 125 itself.
      await eventually(() =>
        call(clients.admin.GetStats.bind(clients.admin), { queue, tenant: 'acme' }),
      );
      const [row] = (await h.stats({ queue, tenant: 'acme' })).entries;
      const late = tookLate(Number(row?.dead), 125, 125);
      const again = await take();
      expect(again).toMatchObject({ [field]: 125 - late });
      // The made-up ids and the ones taken before.
      expect(again.not_found).toHaveLength(500 + late);
    });
  });
});
