/**
 * SetTenant's compare-and-set against a real Redis, where another writer
 * deterministically changes the tenant's settings between each read and
 * write of the merge: a rival that stores its own change right after every
 * read, through a TenantStore of its own connection (what another SetTenant,
 * on this broker or another, does in a race).
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantRegistry } from '../../src/broker/tenants.js';
import { toServiceError } from '../../src/grpc/status.js';
import { TenantLimits } from '../../src/scheduler/index.js';
import { Keys } from '../../src/store/keys.js';
import { defineScripts } from '../../src/store/scripts.js';
import { TenantStore, type StoredTenant } from '../../src/store/tenant-store.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
const connections: Redis[] = [];
const connect = (): Redis => {
  const connection = new Redis(redis.url);
  defineScripts(connection);
  connections.push(connection);
  return connection;
};

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  for (const connection of connections) connection.disconnect();
  await redis?.dispose();
});

/** A store whose first `races` reads are each followed by the rival's write of `rivalSettings(n)`. */
class RacedStore extends TenantStore {
  reads = 0;

  constructor(
    keys: Keys,
    private readonly rival: TenantStore,
    private readonly races: number,
  ) {
    super(connect(), keys);
  }

  override async read(
    tenant: string,
  ): Promise<{ settings: StoredTenant | undefined; version: string }> {
    const read = await super.read(tenant);
    this.reads++;
    if (
      this.reads <= this.races &&
      !(await this.rival.put(tenant, rivalSettings(this.reads), read.version))
    ) {
      throw new Error('the rival lost its own compare-and-set');
    }
    return read;
  }
}

const rivalSettings = (n: number): StoredTenant => ({ weight: 10 + n, queues: {} });

function registry(races: number, maxMergeAttempts?: number) {
  const keys = new Keys(uniquePrefix());
  const rival = new TenantStore(connect(), keys);
  const store = new RacedStore(keys, rival, races);
  let applied = 0;
  const tenants = new TenantRegistry(store, new TenantLimits(Date.now), pino({ level: 'silent' }), {
    onApplied: () => applied++,
    ...(maxMergeAttempts === undefined ? {} : { maxMergeAttempts }),
  });
  return { tenants, store, rival, applied: () => applied };
}

const update = {
  tenant: 'acme',
  rate: 5,
  maxQueued: 7,
  queues: [{ queue: 'email', paused: true }],
};

describe('SetTenant merge attempts', () => {
  it('gives up with UNAVAILABLE after its attempts all lost to another writer, storing none of the update', async () => {
    const { tenants, store, rival, applied } = registry(2, 2);
    const error = await tenants.set(update).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(toServiceError(error)).toMatchObject({
      code: status.UNAVAILABLE,
      details:
        'tenant "acme": its settings changed 2 times while this call merged its update into them, so nothing of it was stored; retry',
    });
    expect(store.reads).toBe(2);
    // What is stored is the rival's last change alone, and this broker applied nothing.
    expect(await rival.get('acme')).toEqual(rivalSettings(2));
    expect(applied()).toBe(0);
    expect(tenants.maxQueued('acme')).toBe(0);
  });

  it('tries 100 times by default', async () => {
    const { tenants, store } = registry(100);
    await expect(tenants.set(update)).rejects.toThrow(/its settings changed 100 times/);
    expect(store.reads).toBe(100);
  });

  it('merges into the rival change when a later attempt wins', async () => {
    const { tenants, store, rival, applied } = registry(1, 2);
    expect(await tenants.set(update)).toMatchObject({ weight: 11, rate: 5, maxQueued: 7 });
    expect(store.reads).toBe(2);
    expect(await rival.get('acme')).toEqual({
      weight: 11,
      rate: 5,
      maxQueued: 7,
      queues: { email: { paused: true } },
    });
    expect(applied()).toBe(1);
    expect(tenants.maxQueued('acme')).toBe(7);
  });
});
