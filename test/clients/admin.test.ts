import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';

import { Admin, type AdminOptions, type TenantSettings } from '../../clients/admin.js';
import { NonRetryableError, RotaError } from '../../clients/errors.js';
import type { EnqueueBatchItem } from '../../clients/producer.js';
import { loadRotaProto } from '../../src/grpc/proto.js';
import { freePort } from '../../src/redis/local-server.js';
import { startTestBroker } from '../helpers/broker.js';
import { startTestRedis } from '../helpers/redis.js';
import { useRota, waitFor } from './fixture.js';

const rota = useRota();
let admins: Admin[] = [];
afterEach(() => {
  for (const admin of admins) admin.close();
  admins = [];
});

function admin(options: AdminOptions = {}): Admin {
  const client = new Admin({ address: rota.address, ...options });
  admins.push(client);
  return client;
}

function storedId(item: EnqueueBatchItem): string {
  if ('error' in item) throw item.error;
  return item.jobId;
}

async function rejection(promise: Promise<unknown>): Promise<RotaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RotaError);
  return error as RotaError;
}

describe('Admin', () => {
  it('stores, merges and lists tenant settings, with queue overrides', async () => {
    const client = admin();
    expect(await client.getTenant('unset')).toEqual({
      tenant: 'unset',
      weight: 1,
      rate: 0,
      burst: 0,
      maxInFlight: 0,
      paused: false,
      maxQueued: 0,
      queues: [],
    });
    await client.setTenant('acme', { weight: 2, maxQueued: 5000, paused: true });
    const merged = await client.setTenant('acme', {
      rate: 10,
      maxInFlight: 3,
      queues: [{ queue: 'email', weight: 0.5, maxInFlight: 1, paused: true }],
    });
    const expected = {
      tenant: 'acme',
      weight: 2,
      rate: 10,
      burst: 0,
      maxInFlight: 3,
      paused: true,
      maxQueued: 5000,
      queues: [{ queue: 'email', weight: 0.5, maxInFlight: 1, paused: true }],
    };
    expect(merged).toEqual(expected);
    expect(await client.getTenant('acme')).toEqual(expected);
    expect(await client.listTenants()).toEqual([expected]);
  });

  it('answers a bad setting with INVALID_ARGUMENT and the broker’s message', async () => {
    const error = await rejection(admin().setTenant('acme', { weight: -1 }));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.message).toMatch(/weight must be a number from 0.001/);
  });

  it('refuses counts their wire fields would wrap, with INVALID_ARGUMENT, storing nothing', async () => {
    const client = admin();
    const before = await client.getTenant('wrapped');
    const cases: Array<[string, TenantSettings]> = [
      ['burst', { burst: 1e20 }], // would be stored as 1661992960
      ['maxInFlight', { maxInFlight: 2 ** 32 + 5 }], // as 5
      ['queues[email].burst', { queues: [{ queue: 'email', burst: 1.5 }] }], // as 1
    ];
    for (const [field, settings] of cases) {
      const error = await rejection(client.setTenant('wrapped', settings));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.message).toMatch(
        new RegExp(`^${field.replace(/[[\]]/g, '\\$&')} must be an integer`),
      );
    }
    expect(await client.getTenant('wrapped')).toEqual(before);
    const error = await rejection(
      client.listDeadLetters('wrapped', 'email', { pageSize: 2 ** 32 + 1 }),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.message).toMatch(/^pageSize must be an integer/);
  });

  // protobuf sends a value as its truthiness: paused 'false' paused the tenant.
  it('refuses a paused that is not a boolean, storing nothing', async () => {
    const client = admin();
    const before = await client.getTenant('unpaused');
    const text = (value: string): boolean => value as unknown as boolean;
    const cases: Array<[string, TenantSettings]> = [
      ['paused must be true or false, got the string "false"', { paused: text('false') }],
      [
        'queues[email].paused must be true or false, got 0',
        { queues: [{ queue: 'email', paused: 0 as unknown as boolean }] },
      ],
    ];
    for (const [message, settings] of cases) {
      const error = await rejection(client.setTenant('unpaused', settings));
      expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, message });
    }
    expect(await client.getTenant('unpaused')).toEqual(before);
  });

  it('reports the depth of each queue × tenant, narrowed by tenant', async () => {
    const producer = rota.producer();
    await producer.enqueueBatch([
      { tenant: 'acme', queue: 'reports' },
      { tenant: 'acme', queue: 'reports' },
      { tenant: 'globex', queue: 'reports', delayMs: 60_000 },
    ]);
    const client = admin();
    const stats = await client.getStats({ queue: 'reports' });
    expect(stats.truncated).toBe(false);
    expect(stats.generatedAt).toBeGreaterThan(Date.now() - 60_000);
    const rows = Object.fromEntries(stats.entries.map((row) => [row.tenant, row]));
    expect(rows.acme).toMatchObject({ queue: 'reports', waiting: 2, delayed: 0, leased: 0 });
    expect(rows.globex).toMatchObject({ waiting: 0, delayed: 1 });
    expect(rows.acme!.waitMs).toEqual({ p50: 0, p95: 0, p99: 0, count: 0 });
    const narrowed = await client.getStats({ tenant: 'globex' });
    expect(narrowed.entries.map((row) => row.tenant)).toEqual(['globex']);
  });

  it('pages through the dead letter queue and replays from it', async () => {
    const producer = rota.producer();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await producer.enqueue({ tenant: 'acme', queue: 'poison', payload: { i } })).jobId);
    }
    const worker = rota.worker({
      queues: ['poison'],
      handler: () => {
        throw new NonRetryableError('bad input');
      },
    });
    await worker.start();
    const client = admin();
    await waitFor(async () =>
      (await client.listDeadLetters('acme', 'poison')).total === 3 ? true : undefined,
    );
    await worker.close();

    const first = await client.listDeadLetters('acme', 'poison', { pageSize: 2 });
    expect(first.jobs).toHaveLength(2);
    expect(first.nextPageToken).toBeDefined();
    expect(first.jobs[0]).toMatchObject({ state: 'DEAD', lastError: 'bad input', tenant: 'acme' });
    const all: string[] = [];
    for await (const job of client.deadLetters('acme', 'poison', 1)) all.push(job.id);
    expect(all.sort()).toEqual([...ids].sort());

    const replayed = await client.replayDeadLetters('acme', 'poison', [ids[0]!, 'no-such-job']);
    expect(replayed).toEqual({ replayed: 1, notFound: ['no-such-job'] });
    expect((await producer.getJob('acme', ids[0]!)).state).toBe('WAITING');
    expect(await client.replayDeadLetters('acme', 'poison', 'all')).toEqual({
      replayed: 2,
      notFound: [],
    });
    expect((await client.listDeadLetters('acme', 'poison')).total).toBe(0);
  });

  it('lists the jobs that wait, page by page, and refuses a state it does not list', async () => {
    const producer = rota.producer();
    const batch = await producer.enqueueBatch([
      { tenant: 'acme', queue: 'browse', priority: 1 },
      { tenant: 'acme', queue: 'browse', priority: 7 },
      { tenant: 'acme', queue: 'browse', payload: { kind: 'late' }, delayMs: 60_000 },
      { tenant: 'acme', queue: 'browse' },
    ]);
    const [low, high, delayed, lowest] = batch.map(storedId);
    const client = admin();
    const waiting: string[] = [];
    for await (const job of client.jobs('acme', 'browse', 'WAITING', 1)) waiting.push(job.id);
    expect(waiting).toEqual([high, low, lowest]);
    const page = await client.listJobs('acme', 'browse', 'DELAYED');
    expect(page.nextPageToken).toBeUndefined();
    expect(page.jobs).toHaveLength(1);
    expect(page.jobs[0]).toMatchObject({
      id: delayed,
      state: 'DELAYED',
      payload: { kind: 'late' },
    });
    const error = await rejection(
      client.listJobs('acme', 'browse', 'DEAD' as unknown as 'WAITING'),
    );
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.message).toMatch(/ListDeadLetters lists DEAD jobs/);
  });

  // From JavaScript a lone id was spread into its letters, each answered as not found.
  it('refuses dead letter ids that are neither an array of strings nor all, with INVALID_ARGUMENT', async () => {
    const client = admin();
    const bad = (value: unknown): string[] => value as string[];
    for (const call of [
      client.replayDeadLetters('acme', 'poison', bad('job-1')),
      client.deleteDeadLetters('acme', 'poison', bad('job-1')),
    ]) {
      const error = await rejection(call);
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.message).toBe(
        `jobs must be an array of job ids or 'all', got the string "job-1": write ["job-1"]`,
      );
    }
    const error = await rejection(client.deleteDeadLetters('acme', 'poison', bad(['job-1', 7])));
    expect(error.message).toBe('jobs[1] must be a string, got number');
  });

  // From JavaScript a lone override failed with "view.queues?.map is not a function".
  it('refuses settings that are not an object and queue overrides that are not an array of objects, with INVALID_ARGUMENT, storing nothing', async () => {
    const client = admin();
    const before = await client.getTenant('shapeless');
    const bad = (value: unknown): TenantSettings => value as TenantSettings;
    const cases: Array<[TenantSettings, string]> = [
      [
        bad({ queues: 'email' }),
        'queues must be an array of queue settings ({ queue, weight, … }), got the string "email"',
      ],
      [
        bad({ queues: { queue: 'email' } }),
        'queues must be an array of queue settings ({ queue, weight, … }), got object',
      ],
      [bad({ queues: [{ queue: 'email' }, 'sms'] }), 'queues[1] must be an object, got string'],
      [bad({ queues: [null] }), 'queues[0] must be an object, got null'],
      [bad('email'), 'settings must be an object, got string'],
      [bad(undefined), 'settings must be an object, got undefined'],
    ];
    for (const [settings, message] of cases) {
      const error = await rejection(client.setTenant('shapeless', settings));
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.message).toBe(message);
    }
    expect(await client.getTenant('shapeless')).toEqual(before);
  });

  // From JavaScript these were ignored: getStats('acme') answered every tenant's
  // rows, listDeadLetters(…, 1) (as deadLetters takes its pageSize) a page of 100.
  it('refuses a stats filter and a page that are not objects, with INVALID_ARGUMENT', async () => {
    const client = admin();
    const bad = (value: unknown): never => value as never;
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => client.getStats(bad('acme')), 'filter must be an object, got string'],
      [() => client.listDeadLetters('acme', 'email', bad(1)), 'page must be an object, got number'],
      [
        () => client.listJobs('acme', 'email', 'WAITING', bad(1)),
        'page must be an object, got number',
      ],
    ];
    for (const [call, message] of cases) {
      expect(await rejection(call())).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        message,
      });
    }
  });

  // From JavaScript protobuf sent them as String(value): purgeQueue(42, 'q') purged tenant '42'.
  it('refuses a tenant or queue that is not a string, with INVALID_ARGUMENT, before sending', async () => {
    const client = admin();
    const producer = rota.producer();
    await producer.enqueue({ tenant: '42', queue: 'q' });
    const bad = (value: unknown): string => value as string;
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => client.purgeQueue(bad(42), 'q'), 'tenant must be a string, got 42'],
      [() => client.purgeQueue('42', bad(['q'])), 'queue must be a string, got array'],
      [() => client.listDeadLetters(bad(42), 'q'), 'tenant must be a string, got 42'],
      [() => client.listJobs(bad(42), 'q', 'WAITING'), 'tenant must be a string, got 42'],
      [() => client.replayDeadLetters(bad(42), 'q', 'all'), 'tenant must be a string, got 42'],
      [() => client.deleteDeadLetters('42', bad(7), 'all'), 'queue must be a string, got 7'],
      [() => client.getTenant(bad(42)), 'tenant must be a string, got 42'],
      [() => client.setTenant(bad(42), { paused: true }), 'tenant must be a string, got 42'],
      [() => client.getStats({ tenant: bad(42) }), 'filter.tenant must be a string, got 42'],
    ];
    for (const [call, message] of cases) {
      expect(await rejection(call())).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        message,
      });
    }
    const { entries } = await client.getStats({ tenant: '42', queue: 'q' });
    expect(entries).toEqual([expect.objectContaining({ tenant: '42', queue: 'q', waiting: 1 })]);
    expect((await client.getTenant('42')).paused).toBe(false);
  });

  it('deletes dead letters by id or all; a deleted job is gone', async () => {
    const producer = rota.producer();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      ids.push(
        (await producer.enqueue({ tenant: 'acme', queue: 'doomed', idempotencyKey: `k${i}` }))
          .jobId,
      );
    }
    const worker = rota.worker({
      queues: ['doomed'],
      handler: () => {
        throw new NonRetryableError('bad input');
      },
    });
    await worker.start();
    const client = admin();
    await waitFor(async () =>
      (await client.listDeadLetters('acme', 'doomed')).total === 2 ? true : undefined,
    );
    expect(await client.deleteDeadLetters('acme', 'doomed', [ids[0]!, 'no-such-job'])).toEqual({
      deleted: 1,
      notFound: ['no-such-job'],
    });
    expect(await client.deleteDeadLetters('acme', 'doomed', 'all')).toEqual({
      deleted: 1,
      notFound: [],
    });
    for (const id of ids) {
      expect((await rejection(producer.getJob('acme', id))).code).toBe(grpc.status.NOT_FOUND);
    }
    expect((await client.listDeadLetters('acme', 'doomed')).total).toBe(0);
    // The key still answers the deleted job (README): a late retry runs nothing.
    expect(
      await producer.enqueue({ tenant: 'acme', queue: 'doomed', idempotencyKey: 'k0' }),
    ).toMatchObject({ jobId: ids[0], duplicate: true });
  });

  it('purges a queue’s waiting jobs; a leased job runs to its end, other tenants keep theirs', async () => {
    const producer = rota.producer();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ran: string[] = [];
    const worker = rota.worker({
      queues: ['bulk'],
      concurrency: 1,
      handler: async (job) => {
        ran.push(job.id);
        if (ran.length === 1) await held;
      },
    });
    await worker.start();
    const leased = (await producer.enqueue({ tenant: 'acme', queue: 'bulk' })).jobId;
    await waitFor(() => (ran.length === 1 ? true : undefined));
    // More than one purge step, some read into the broker's buffer by now,
    // some delayed, some at another priority.
    const backlog: string[] = [];
    for (let i = 0; i < 3; i++) {
      const batch = await producer.enqueueBatch(
        Array.from({ length: 400 }, (_, k) => ({
          tenant: 'acme',
          queue: 'bulk',
          priority: k % 3,
          delayMs: k % 10 === 0 ? 60_000 : 0,
        })),
      );
      backlog.push(...batch.map(storedId));
    }
    const other = await producer.enqueueBatch([
      { tenant: 'globex', queue: 'bulk', delayMs: 60_000 },
      { tenant: 'acme', queue: 'other', delayMs: 60_000 },
    ]);
    const client = admin();
    expect(await client.purgeQueue('acme', 'bulk')).toEqual({ purged: 1200 });
    for (const id of [backlog[0]!, backlog[1]!, backlog[1199]!]) {
      expect((await producer.getJob('acme', id)).state).toBe('CANCELLED');
    }
    expect((await producer.getJob('globex', storedId(other[0]!))).state).toBe('DELAYED');
    expect((await producer.getJob('acme', storedId(other[1]!))).state).toBe('DELAYED');
    const [row] = (await client.getStats({ queue: 'bulk', tenant: 'acme' })).entries;
    expect(row).toMatchObject({ waiting: 0, delayed: 0 });

    release();
    await waitFor(async () =>
      (await producer.getJob('acme', leased)).state === 'COMPLETED' ? true : undefined,
    );
    const after = (await producer.enqueue({ tenant: 'acme', queue: 'bulk' })).jobId;
    await waitFor(async () =>
      (await producer.getJob('acme', after)).state === 'COMPLETED' ? true : undefined,
    );
    expect(ran).toEqual([leased, after]);
    expect(await client.purgeQueue('acme', 'bulk')).toEqual({ purged: 0 });
  });

  it('refuses a purge of a bad or reserved queue name with INVALID_ARGUMENT', async () => {
    const client = admin();
    const bad = await rejection(client.purgeQueue('acme', 'no spaces'));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.message).toMatch(/^queue /);
    const reserved = await rejection(client.purgeQueue('acme', 'job'));
    expect(reserved.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(reserved.message).toMatch(/reserved/);
    const tenant = await rejection(client.purgeQueue('', 'bulk'));
    expect(tenant.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('fails with UNAVAILABLE when no broker listens, within its deadline', async () => {
    const client = admin({ address: `127.0.0.1:${await freePort()}`, timeoutMs: 2000 });
    const error = await rejection(client.listTenants());
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(error.code);
  });

  it('close() fails the calls under way with CANCELLED, and later calls with a RotaError', async () => {
    // A broker that takes the call and never answers it.
    const server = new grpc.Server();
    let received = 0;
    server.addService(loadRotaProto().rota.v1.Admin.service, {
      ListTenants: () => void received++,
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    try {
      const client = admin({ address: `127.0.0.1:${port}` });
      const underWay = rejection(client.listTenants());
      await waitFor(() => (received > 0 ? true : undefined));
      client.close();
      expect((await underWay).codeName).toBe('CANCELLED');
      expect((await rejection(client.getTenant('acme'))).codeName).toBe('FAILED_PRECONDITION');
    } finally {
      server.forceShutdown();
    }
  });

  it('refuses a timeoutMs that is not > 0, or not a number', () => {
    expect(() => new Admin({ timeoutMs: 0 })).toThrow(
      /Admin: timeoutMs must be a number of ms from 1 to .*, got 0/,
    );
    // '5000' (from process.env) passed, and every call failed: "deadline must be a number or Date"
    expect(() => new Admin({ timeoutMs: '5000' as unknown as number })).toThrow(
      /Admin: timeoutMs must be a number of ms from 1 to .*, got the string "5000"$/,
    );
  });

  it('sends its token; a token limited to some tenants may name only those', async () => {
    const redis = await startTestRedis();
    const secured = await startTestBroker({
      redisUrl: redis.url,
      authTokens: 'admin-token-of-acme-only:admin:acme;admin-token-of-every-tenant:admin',
    });
    try {
      const client = admin({ address: secured.address, token: 'admin-token-of-acme-only' });
      const operator = admin({ address: secured.address, token: 'admin-token-of-every-tenant' });
      const share = { weight: 3, maxInFlight: 2, queues: [{ queue: 'email', rate: 5 }] };
      await operator.setTenant('acme', share);
      const paused = await client.setTenant('acme', {
        paused: true,
        queues: [{ queue: 'email', paused: true }],
      });
      expect(paused).toMatchObject({
        ...share,
        paused: true,
        queues: [{ queue: 'email', rate: 5, paused: true }],
      });
      expect((await client.setTenant('acme', { paused: false })).paused).toBe(false);
      for (const settings of [
        { weight: 30 },
        { maxQueued: 0 },
        { queues: [{ queue: 'email', maxInFlight: 0 }] },
      ]) {
        const refused = await rejection(client.setTenant('acme', settings));
        expect(refused.codeName).toBe('PERMISSION_DENIED');
        expect(refused.message).toMatch(/use an admin token of every tenant/);
      }
      expect(await operator.getTenant('acme')).toMatchObject({ ...share, paused: false });
      expect((await operator.setTenant('acme', { weight: 30 })).weight).toBe(30);
      const denied = await rejection(client.getTenant('globex'));
      expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
      const anonymous = await rejection(admin({ address: secured.address }).listTenants());
      expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      await secured.shutdown();
      await redis.dispose();
    }
  });
});
