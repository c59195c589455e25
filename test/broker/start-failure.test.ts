import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Admin } from '../../clients/admin.js';
import { Producer } from '../../clients/producer.js';
import { DEFAULT_METRICS_ADDRESS } from '../../src/config.js';
import { LAYOUT_VERSION } from '../../src/store/keys.js';
import { startError, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { runRotaUntilExit } from '../helpers/cli.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
let first: TestBroker;
let observer: Redis;

beforeAll(async () => {
  redis = await startTestRedis();
  first = await startTestBroker({ redisUrl: redis.url });
  observer = new Redis(redis.url);
});
afterAll(async () => {
  observer.disconnect();
  await first.shutdown();
  await redis.dispose();
});

/** The brokers' connections to Redis (each broker names its connections "rota"). */
async function brokerConnections(): Promise<number> {
  const list = (await observer.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(' name=rota ')).length;
}

/** Waits for Redis to see closed connections go (it learns of a close a moment later). */
async function settledConnections(expected: number): Promise<number> {
  const deadline = Date.now() + 3000;
  let count = await brokerConnections();
  while (count !== expected && Date.now() < deadline) {
    await sleep(50);
    count = await brokerConnections();
  }
  return count;
}

/** The broker at `address` stores a job of `queue` and reads it back WAITING. */
async function expectStores(address: string, queue: string): Promise<void> {
  const producer = new Producer({ address, timeoutMs: 5000 });
  try {
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue });
    expect((await producer.getJob('acme', jobId)).state).toBe('WAITING');
  } finally {
    await producer.close();
  }
}

describe('a broker start that fails part way', () => {
  it('names a taken gRPC address and the option to change, and leaves nothing running', async () => {
    const before = await brokerConnections();
    expect(before).toBeGreaterThan(0);
    const error = await startError({ redisUrl: redis.url, grpcAddress: first.address });
    expect(error?.message).toBe(
      `the gRPC address ${first.address} is in use (another broker?): stop what listens there, or set ROTA_GRPC_ADDRESS (--grpc-address) to a free host:port`,
    );
    expect(await settledConnections(before)).toBe(before);

    // The broker already listening there was not disturbed.
    await expectStores(first.address, 'start-failure');
  });

  // It said "listen EADDRINUSE: address already in use …", naming no option.
  it('names a taken metrics address and the option to change, and leaves nothing running', async () => {
    const before = await brokerConnections();
    const error = await startError({ redisUrl: redis.url, metricsAddress: first.address });
    expect(error?.message).toBe(
      `the metrics address ${first.address} is in use: stop what listens there, or set ROTA_METRICS_ADDRESS (--metrics-address) to a free host:port, or to off`,
    );
    expect(await settledConnections(before)).toBe(before);
    // An address of no interface of this machine (TEST-NET-1).
    const elsewhere = await startError({
      redisUrl: redis.url,
      metricsAddress: '192.0.2.1:9464',
      insecure: true,
    });
    expect(elsewhere?.message).toMatch(
      /^cannot serve metrics on 192\.0\.2\.1:9464 \(ROTA_METRICS_ADDRESS, --metrics-address\): listen EADDRNOTAVAIL/,
    );
    expect(await settledConnections(before)).toBe(before);
  });

  // A second broker on one host, both on the defaults: the first has the metrics port.
  it('runs without a metrics endpoint, and says so, when the default metrics port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => {
      // Taken already (a broker of this host): as good for this test.
      holder.once('error', () => resolve());
      holder.listen(9464, '127.0.0.1', resolve);
    });
    const logs: Array<Record<string, unknown>> = [];
    const second = await startTestBroker({
      redisUrl: redis.url,
      metricsAddress: DEFAULT_METRICS_ADDRESS,
      onLog: (line) => logs.push(line),
    });
    try {
      expect(second.metricsUrl).toBeUndefined();
      expect(logs).toContainEqual(
        expect.objectContaining({
          level: 40,
          address: DEFAULT_METRICS_ADDRESS,
          msg: 'metrics port in use (another broker?): running without a metrics endpoint; set ROTA_METRICS_ADDRESS',
        }),
      );
      await expectStores(second.address, 'no-metrics');
    } finally {
      await second.shutdown();
      holder.close();
    }
  });

  it('closes its Redis connections when its tenants file cannot be read', async () => {
    const before = await brokerConnections();
    const missing = '/nonexistent/rota-tenants.yaml';
    const error = await startError({ redisUrl: redis.url, tenantsFile: missing });
    // The option to fix is named, as for the other files the broker reads.
    expect(error?.message).toBe(
      `ROTA_TENANTS_FILE ${missing}: cannot read it (ENOENT: no such file or directory, open '${missing}')`,
    );
    expect(await settledConnections(before)).toBe(before);
  });

  // The entries before a bad one were stored in Redis, by a broker that then refused to start.
  it('stores nothing of a tenants file with a bad entry, and names the entry', async () => {
    const dir = await mkdtemp(`${tmpdir()}/rota-tenants-`);
    const file = `${dir}/tenants.yaml`;
    const admin = new Admin({ address: first.address, timeoutMs: 5000 });
    try {
      await writeFile(file, '- tenant: first-good\n  weight: 5\n- tenant: second\n  weight: -1\n');
      const error = await startError({ redisUrl: redis.url, tenantsFile: file });
      expect(error?.message).toBe(
        `${file}: tenants[1]: tenant "second": weight must be a number from 0.001 to 1000000, got -1`,
      );
      expect((await admin.getTenant('first-good')).weight).toBe(1);

      await writeFile(file, '- tenant: first-good\n  weight: 5\n- tenant: "bad name"\n');
      expect((await startError({ redisUrl: redis.url, tenantsFile: file }))?.message).toBe(
        `${file}: tenants[1]: tenant.tenant is "bad name"; it must match [A-Za-z0-9_.-]{1,64}`,
      );
      expect((await admin.getTenant('first-good')).weight).toBe(1);
    } finally {
      admin.close();
      await rm(dir, { recursive: true });
    }
  });

  it('marks the Redis data layout, and refuses to start on data of another layout', async () => {
    // A broker of a release that changed the layout would misread the data of
    // today's brokers (and write its own among theirs) without a word.
    const prefix = first.broker.store.keys;
    expect(await observer.get(prefix.layout())).toBe(String(LAYOUT_VERSION));

    const before = await brokerConnections();
    await observer.set('other-layout:layout', '2');
    const error = await startError({ redisUrl: redis.url, keyPrefix: 'other-layout' });
    expect(error?.message).toBe(
      `this Redis holds Rota data of layout 2 under key prefix "other-layout" (the key other-layout:layout); this broker reads layout ${LAYOUT_VERSION}: run brokers of the release that wrote it, or migrate the data first (see README, "Upgrades")`,
    );
    expect(await settledConnections(before)).toBe(before);
    expect(await observer.get('other-layout:layout')).toBe('2');

    // The rota command says so, and exits non-zero before it listens.
    const { code, output } = await runRotaUntilExit({
      ROTA_REDIS_URL: redis.url,
      ROTA_KEY_PREFIX: 'other-layout',
      ROTA_GRPC_ADDRESS: '127.0.0.1:0',
      ROTA_METRICS_ADDRESS: 'off',
    });
    expect(code).toBe(1);
    expect(output).toContain(`rota: ${error?.message}`);
    expect(output).not.toContain('rota broker listening');
  });

  it('starts a second broker on data of its own layout', async () => {
    const second = await startTestBroker({
      redisUrl: redis.url,
      keyPrefix: first.config.keyPrefix,
    });
    try {
      const producer = new Producer({ address: second.address, timeoutMs: 5000 });
      try {
        await producer.enqueue({ tenant: 'acme', queue: 'second-broker' });
      } finally {
        await producer.close();
      }
      expect(await observer.get(first.broker.store.keys.layout())).toBe(String(LAYOUT_VERSION));
    } finally {
      await second.shutdown();
    }
  });

  it('marks the layout again when Redis lost its keys while the broker ran', async () => {
    const key = first.broker.store.keys.layout();
    await observer.del(key);
    // Else a broker of another layout starting now would find no mark, and write its own.
    await expect.poll(() => observer.get(key), { timeout: 10_000 }).toBe(String(LAYOUT_VERSION));
  });
});
