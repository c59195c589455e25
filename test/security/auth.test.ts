/**
 * Bearer tokens against a real broker: every UNAUTHENTICATED and
 * PERMISSION_DENIED path with its exact message, tenant scopes of producers,
 * workers and admins, and the Producer/Worker `token` option; and that no
 * token reaches the logs (the broker logs at debug into `logged`). Tokens come
 * from a YAML file and from ROTA_AUTH_TOKENS at once.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer } from '../../clients/producer.js';
import { Worker } from '../../clients/worker.js';
import { RotaError } from '../../clients/errors.js';
import { sha256 } from '../../src/token-digest.js';
import type { EnqueueStreamResponse__Output } from '../../src/generated/rota/v1/EnqueueStreamResponse.js';
import type { Hello } from '../../src/generated/rota/v1/Hello.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { ok, outcome, stubs, WorkStream, type Stubs } from './fixture.js';

const T = {
  producerAcme: 'producer-acme-0123456789', // env; acme, initech
  producerAll: 'producer-all-0123456789', // file, plain, named
  workerAcme: 'worker-acme-0123456789', // file, sha256; acme
  workerAll: 'worker-all-0123456789', // env
  admin: 'admin-all-0123456789', // env, sha256
  adminAcme: 'admin-acme-0123456789', // file; acme
};
const hex = (token: string): string => sha256(token).toString('hex');

const MISSING =
  'this broker requires a bearer token: send the metadata "authorization: Bearer <token>" (clients: the token option)';
const INVALID =
  'the bearer token is not valid on this broker: send the metadata "authorization: Bearer <token>" (clients: the token option) with a token from its ROTA_AUTH_FILE or ROTA_AUTH_TOKENS';
const NOT_BEARER =
  'the authorization metadata must be "Bearer <token>" (the word Bearer, a space, the token)';
const denyTenant = (tenant: string, scope: string): string =>
  `this token may not act for tenant "${tenant}"; its tenants are: ${scope}`;

let redis: TestRedis;
let broker: TestBroker;
/** Every line the broker logged, as written. */
const logged: string[] = [];
let dir: string;
const open: Array<{ close(): unknown }> = [];
const as = (token: string | undefined): Stubs => {
  const s = stubs(broker.address, token);
  open.push(s);
  return s;
};
const work = (s: Stubs, hello?: Hello): WorkStream => {
  const w = new WorkStream(s, hello);
  open.push(w);
  return w;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rota-test-auth-'));
  const authFile = path.join(dir, 'tokens.yaml');
  await writeFile(
    authFile,
    [
      'tokens:',
      `  - token: ${T.producerAll}`,
      '    role: producer',
      '    name: producer-all',
      `  - token: sha256:${hex(T.workerAcme)}`,
      '    role: worker',
      '    tenants: [acme]',
      `  - token: ${T.adminAcme}`,
      '    role: admin',
      '    tenants: [acme]',
      '',
    ].join('\n'),
  );
  redis = await startTestRedis();
  broker = await startTestBroker({
    redisUrl: redis.url,
    authFile,
    authTokens: `${T.producerAcme}:producer:acme,initech; ${T.workerAll}:worker;sha256:${hex(T.admin)}:admin`,
    logLevel: 'debug',
    onLog: (line) => logged.push(JSON.stringify(line)),
  });
});

afterAll(async () => {
  for (const item of open) item.close();
  await broker?.shutdown();
  await redis?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('authentication', () => {
  const calls: Array<[string, (s: Stubs) => Promise<{ ok: boolean }>]> = [
    ['Enqueue', (s) => outcome(s.broker.Enqueue.bind(s.broker), { tenant: 'acme', queue: 'q' })],
    ['EnqueueBatch', (s) => outcome(s.broker.EnqueueBatch.bind(s.broker), { jobs: [] })],
    ['GetJob', (s) => outcome(s.broker.GetJob.bind(s.broker), { tenant: 'acme', job_id: 'x' })],
    ['CancelJob', (s) => outcome(s.broker.CancelJob.bind(s.broker), { tenant: 'acme', job_id: 'x' })],
    ['SetTenant', (s) => outcome(s.admin.SetTenant.bind(s.admin), { tenant: { tenant: 'acme' } })],
    ['GetTenant', (s) => outcome(s.admin.GetTenant.bind(s.admin), { tenant: 'acme' })],
    ['ListTenants', (s) => outcome(s.admin.ListTenants.bind(s.admin), {})],
    ['GetStats', (s) => outcome(s.admin.GetStats.bind(s.admin), {})],
    ['ListDeadLetters', (s) => outcome(s.admin.ListDeadLetters.bind(s.admin), { tenant: 'acme', queue: 'q' })],
    ['ReplayDeadLetters', (s) => outcome(s.admin.ReplayDeadLetters.bind(s.admin), { tenant: 'acme', queue: 'q', all: true })],
    ['DeleteDeadLetters', (s) => outcome(s.admin.DeleteDeadLetters.bind(s.admin), { tenant: 'acme', queue: 'q', all: true })],
    ['ListJobs', (s) => outcome(s.admin.ListJobs.bind(s.admin), { tenant: 'acme', queue: 'q', state: 'WAITING' })],
    ['PurgeQueue', (s) => outcome(s.admin.PurgeQueue.bind(s.admin), { tenant: 'acme', queue: 'q' })],
  ]; // prettier-ignore

  it.each(calls)('%s without a token is UNAUTHENTICATED', async (_name, run) => {
    const s = as(undefined);
    expect(await run(s)).toEqual({
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
      details: MISSING,
    });
  });

  it.each(calls)('%s with an unknown token is UNAUTHENTICATED', async (_name, run) => {
    const s = as('not-a-token-of-this-broker');
    expect(await run(s)).toEqual({
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
      details: INVALID,
    });
  });

  it('refuses an authorization value that is not Bearer; takes the scheme in any case', async () => {
    const withMetadata = (decorate: (metadata: grpc.Metadata) => void) => {
      const s = stubs(broker.address, decorate);
      open.push(s);
      return outcome(s.admin.ListTenants.bind(s.admin), {});
    };
    expect(await withMetadata((md) => md.set('authorization', `Basic ${T.admin}`))).toEqual({
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
      details: NOT_BEARER,
    });
    expect(await withMetadata((md) => md.set('authorization', T.admin))).toMatchObject({
      details: NOT_BEARER,
    });
    expect(await withMetadata((md) => md.set('authorization', `bearer ${T.admin}`))).toMatchObject({
      ok: true,
    });
  });

  it('accepts tokens from the file, plain or hashed, and from the environment', async () => {
    const fromFile = as(T.producerAll);
    await ok(fromFile.broker.Enqueue.bind(fromFile.broker), { tenant: 'anyone', queue: 'file' });
    const hashed = work(as(T.workerAcme), { queues: ['file'] });
    await hashed.welcome();
    const hashedEnv = as(T.admin);
    await ok(hashedEnv.admin.ListTenants.bind(hashedEnv.admin), {});
  });

  it('does not take a configured digest for the token', async () => {
    for (const token of [`sha256:${hex(T.admin)}`, hex(T.admin)]) {
      const s = as(token);
      expect(await outcome(s.admin.ListTenants.bind(s.admin), {})).toEqual({
        ok: false,
        code: grpc.status.UNAUTHENTICATED,
        details: INVALID,
      });
    }
  });

  it('logs no token, of calls let in or refused', async () => {
    const withMetadata = (decorate: (metadata: grpc.Metadata) => void) => {
      const s = stubs(broker.address, decorate);
      open.push(s);
      return outcome(s.admin.ListTenants.bind(s.admin), {});
    };
    await withMetadata((md) => md.set('authorization', `Basic ${T.admin}`));
    await withMetadata((md) => {
      md.add('authorization', `Bearer ${T.admin}`);
      md.add('authorization', `Bearer ${T.producerAll}`);
    });
    const unknown = as(`${T.admin}x`);
    await outcome(unknown.admin.ListTenants.bind(unknown.admin), {});
    const worker = as(T.workerAcme);
    await outcome(worker.broker.Enqueue.bind(worker.broker), { tenant: 'acme', queue: 'logs' });
    const producer = as(T.producerAcme);
    await outcome(producer.broker.Enqueue.bind(producer.broker), {
      tenant: 'globex',
      queue: 'logs',
    });
    await ok(producer.broker.Enqueue.bind(producer.broker), { tenant: 'acme', queue: 'logs' });
    const w = work(as(T.workerAcme), { queues: ['logs'] });
    await expect.poll(() => w.leases.length).toBe(1);
    await work(as(T.producerAll), { queues: ['logs'] }).ended();

    expect(logged.some((line) => line.includes('"msg":"call refused: '))).toBe(true);
    for (const token of Object.values(T)) {
      expect(logged.filter((line) => line.includes(token) || line.includes(hex(token)))).toEqual(
        [],
      );
    }
  });

  it('ends a Work stream without a valid token as UNAUTHENTICATED', async () => {
    const missing = work(as(undefined), { queues: ['q'] });
    expect(await missing.ended()).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: MISSING,
    });
    const wrong = work(as('not-a-token-of-this-broker'), { queues: ['q'] });
    expect(await wrong.ended()).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: INVALID,
    });
    expect(missing.messages).toEqual([]);
  });

  it('leaves the health service open to probes', async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const health = new Health(
      broker.address,
      grpc.credentials.createInsecure(),
    ) as unknown as grpc.Client & {
      Check(
        request: { service: string },
        callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
      ): void;
    };
    open.push(health);
    const reply = await new Promise<{ status: string } | undefined>((resolve, reject) =>
      health.Check({ service: '' }, (error, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
    expect(reply?.status).toBe('SERVING');
  });
});

describe('roles', () => {
  it('lets only producers (and admins) call the producer RPCs', async () => {
    const worker = as(T.workerAll);
    expect(
      await outcome(worker.broker.Enqueue.bind(worker.broker), { tenant: 'acme', queue: 'q' }),
    ).toEqual({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details:
        "rota.v1.Broker/Enqueue needs a producer (or admin) token; this token's role is worker",
    });
    expect(
      await outcome(worker.broker.GetJob.bind(worker.broker), { tenant: 'acme', job_id: 'x' }),
    ).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details:
        "rota.v1.Broker/GetJob needs a producer (or admin) token; this token's role is worker",
    });
    const admin = as(T.admin);
    const { job_id } = await ok(admin.broker.Enqueue.bind(admin.broker), {
      tenant: 'acme',
      queue: 'roles',
    });
    const job = await ok(admin.broker.GetJob.bind(admin.broker), { tenant: 'acme', job_id });
    expect(job.state).toBe('WAITING');
  });

  it('lets only admins call Admin', async () => {
    for (const token of [T.producerAll, T.workerAll]) {
      const s = as(token);
      const role = token === T.producerAll ? 'producer' : 'worker';
      expect(await outcome(s.admin.GetTenant.bind(s.admin), { tenant: 'acme' })).toEqual({
        ok: false,
        code: grpc.status.PERMISSION_DENIED,
        details: `rota.v1.Admin/GetTenant needs an admin token; this token's role is ${role}`,
      });
      expect(await outcome(s.admin.PurgeQueue.bind(s.admin), { tenant: 'acme', queue: 'q' })).toEqual({
        ok: false,
        code: grpc.status.PERMISSION_DENIED,
        details: `rota.v1.Admin/PurgeQueue needs an admin token; this token's role is ${role}`,
      });
    } // prettier-ignore
    const admin = as(T.admin);
    await ok(admin.admin.SetTenant.bind(admin.admin), { tenant: { tenant: 'globex', weight: 2 } });
  });

  it('lets only workers (and admins) open Work', async () => {
    const w = work(as(T.producerAll), { queues: ['q'] });
    expect(await w.ended()).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: "rota.v1.Broker/Work needs a worker (or admin) token; this token's role is producer",
    });
    const admin = work(as(T.admin), { queues: ['q'] });
    await admin.welcome();
  });
});

describe('tenant scopes', () => {
  it('keeps a scoped producer to its tenants', async () => {
    const s = as(T.producerAcme);
    expect(
      await outcome(s.broker.Enqueue.bind(s.broker), { tenant: 'globex', queue: 'q' }),
    ).toEqual({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: denyTenant('globex', 'acme, initech'),
    });
    const { job_id } = await ok(s.broker.Enqueue.bind(s.broker), {
      tenant: 'acme',
      queue: 'scope',
    });
    expect((await ok(s.broker.GetJob.bind(s.broker), { tenant: 'acme', job_id })).id).toBe(job_id);

    const admin = as(T.admin);
    const other = await ok(admin.broker.Enqueue.bind(admin.broker), {
      tenant: 'globex',
      queue: 'scope',
    });
    const ref = { tenant: 'globex', job_id: other.job_id };
    const denied = {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: denyTenant('globex', 'acme, initech'),
    };
    expect(await outcome(s.broker.GetJob.bind(s.broker), ref)).toEqual(denied);
    expect(await outcome(s.broker.CancelJob.bind(s.broker), ref)).toEqual(denied);
    // Refused before any lookup: a made-up id is answered alike, so nothing tells that globex's job exists.
    const madeUp = { tenant: 'globex', job_id: '0000000000000000deadbeef' };
    expect(await outcome(s.broker.GetJob.bind(s.broker), madeUp)).toEqual(denied);
    expect(await outcome(s.broker.CancelJob.bind(s.broker), madeUp)).toEqual(denied);
    // Under its own tenant, globex's id names no job.
    const underOwn = { tenant: 'acme', job_id: other.job_id };
    const missing = {
      ok: false,
      code: grpc.status.NOT_FOUND,
      details: `job ${other.job_id} of tenant acme does not exist (wrong id or tenant, or it ended and its retention is over)`,
    };
    expect(await outcome(s.broker.GetJob.bind(s.broker), underOwn)).toEqual(missing);
    expect(await outcome(s.broker.CancelJob.bind(s.broker), underOwn)).toEqual(missing);
    const still = await ok(admin.broker.GetJob.bind(admin.broker), {
      tenant: 'globex',
      job_id: other.job_id,
    });
    expect(still.state).toBe('WAITING');
    const cancelled = await ok(s.broker.CancelJob.bind(s.broker), { tenant: 'acme', job_id });
    expect(cancelled.cancelled).toBe(true);
  });

  it('refuses out-of-scope items of an EnqueueBatch one by one', async () => {
    const s = as(T.producerAcme);
    const { results } = await ok(s.broker.EnqueueBatch.bind(s.broker), {
      jobs: [
        { tenant: 'acme', queue: 'batch' },
        { tenant: 'globex', queue: 'batch' },
        { tenant: 'initech', queue: 'batch' },
        { tenant: 'bad/name', queue: 'batch' },
      ],
    });
    expect(results[0]).toMatchObject({ code: 0, error: '' });
    expect(results[0]!.job_id).not.toBe('');
    expect(results[1]).toEqual({
      job_id: '',
      duplicate: false,
      code: grpc.status.PERMISSION_DENIED,
      error: denyTenant('globex', 'acme, initech'),
    });
    expect(results[2]).toMatchObject({ code: 0 });
    // A malformed id is a validation error, not a scope question.
    expect(results[3]).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const admin = as(T.admin);
    const stats = await ok(admin.admin.GetStats.bind(admin.admin), { queue: 'batch' });
    expect(stats.entries.map((e) => e.tenant).sort()).toEqual(['acme', 'initech']);
  });

  it('refuses out-of-scope items of an EnqueueStream one by one, and goes on', async () => {
    const call = as(T.producerAcme).broker.EnqueueStream();
    const answers: EnqueueStreamResponse__Output[] = [];
    call.on('data', (answer: EnqueueStreamResponse__Output) => answers.push(answer));
    call.on('error', () => undefined);
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const job = (tenant: string) => ({ tenant, queue: 'stream-scope' });
    call.write({ request_id: 1, jobs: [job('globex'), job('acme')] });
    call.write({ request_id: 2, jobs: [job('initech'), job('globex')] });
    call.end();
    expect((await ended).code).toBe(grpc.status.OK);
    const denied = {
      job_id: '',
      duplicate: false,
      code: grpc.status.PERMISSION_DENIED,
      error: denyTenant('globex', 'acme, initech'),
    };
    const byRequest = Object.fromEntries(answers.map((a) => [a.request_id, a.results]));
    expect(byRequest['1']).toEqual([denied, expect.objectContaining({ code: 0 })]);
    expect(byRequest['2']).toEqual([expect.objectContaining({ code: 0 }), denied]);
    const admin = as(T.admin);
    const stats = await ok(admin.admin.GetStats.bind(admin.admin), { queue: 'stream-scope' });
    expect(stats.entries.map((e) => e.tenant)).toEqual(['acme', 'initech']);
  });

  it('keeps a scoped admin to its tenants', async () => {
    const s = as(T.adminAcme);
    const denied = {
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details: denyTenant('globex', 'acme'),
    };
    expect(
      await outcome(s.admin.SetTenant.bind(s.admin), { tenant: { tenant: 'globex' } }),
    ).toEqual(denied);
    expect(await outcome(s.admin.GetTenant.bind(s.admin), { tenant: 'globex' })).toEqual(denied);
    expect(await outcome(s.admin.GetStats.bind(s.admin), { tenant: 'globex' })).toEqual(denied);
    const dlq = { tenant: 'globex', queue: 'q' };
    expect(await outcome(s.admin.ListDeadLetters.bind(s.admin), dlq)).toEqual(denied);
    expect(await outcome(s.admin.ReplayDeadLetters.bind(s.admin), { ...dlq, all: true })).toEqual(
      denied,
    );
    expect(await outcome(s.admin.DeleteDeadLetters.bind(s.admin), { ...dlq, all: true })).toEqual(
      denied,
    );
    expect(await outcome(s.admin.PurgeQueue.bind(s.admin), dlq)).toEqual(denied);
    expect(await outcome(s.admin.ListJobs.bind(s.admin), { ...dlq, state: 'DELAYED' })).toEqual(
      denied,
    );

    await ok(s.admin.SetTenant.bind(s.admin), { tenant: { tenant: 'acme', paused: true } });
    expect((await ok(s.admin.GetTenant.bind(s.admin), { tenant: 'acme' })).paused).toBe(true);
    await ok(s.admin.SetTenant.bind(s.admin), { tenant: { tenant: 'acme', paused: false } });
    const admin = as(T.admin);
    await ok(admin.admin.SetTenant.bind(admin.admin), { tenant: { tenant: 'globex', weight: 2 } });
    const listed = await ok(s.admin.ListTenants.bind(s.admin), {});
    expect(listed.tenants.map((t) => t.tenant)).toEqual(['acme']);
    await ok(admin.broker.Enqueue.bind(admin.broker), { tenant: 'globex', queue: 'admin-scope' });
    await ok(admin.broker.Enqueue.bind(admin.broker), { tenant: 'acme', queue: 'admin-scope' });
    const stats = await ok(s.admin.GetStats.bind(s.admin), { queue: 'admin-scope' });
    expect(stats.entries.map((e) => e.tenant)).toEqual(['acme']);
    const all = await ok(admin.admin.GetStats.bind(admin.admin), { queue: 'admin-scope' });
    expect(all.entries.map((e) => e.tenant)).toEqual(['acme', 'globex']);
  });

  it('lets a scoped admin pause and resume its tenants, not change their share', async () => {
    const admin = as(T.admin);
    const s = as(T.adminAcme);
    const share = {
      tenant: 'acme',
      weight: 2,
      rate: 1000,
      burst: 0,
      max_in_flight: 1000,
      max_queued: '100000',
      queues: [{ queue: 'scoped-admin', weight: 3, max_in_flight: 2 }],
    };
    await ok(admin.admin.SetTenant.bind(admin.admin), { tenant: share });
    const stored = await ok(admin.admin.GetTenant.bind(admin.admin), { tenant: 'acme' });

    // Pausing a queue keeps the weight and cap an admin of every tenant gave it.
    const paused = await ok(s.admin.SetTenant.bind(s.admin), {
      tenant: { tenant: 'acme', paused: true, queues: [{ queue: 'scoped-admin', paused: true }] },
    });
    expect(paused).toMatchObject({
      ...stored,
      paused: true,
      queues: [{ queue: 'scoped-admin', weight: 3, max_in_flight: 2, paused: true }],
    });
    const resumed = await ok(s.admin.SetTenant.bind(s.admin), {
      tenant: { tenant: 'acme', paused: false, queues: [{ queue: 'scoped-admin', paused: false }] },
    });
    expect(resumed).toMatchObject({
      ...stored,
      queues: [{ queue: 'scoped-admin', weight: 3, max_in_flight: 2, paused: false }],
    });
    const settled = await ok(admin.admin.GetTenant.bind(admin.admin), { tenant: 'acme' });

    const refused = (fields: string): unknown => ({
      ok: false,
      code: grpc.status.PERMISSION_DENIED,
      details:
        `this token is limited to tenants (acme): with SetTenant it may pause and resume them, ` +
        `but not set ${fields}, which decide their share against the other tenants; ` +
        'leave those fields unset, or use an admin token of every tenant (one without tenants)',
    });
    const attempts: Array<[Record<string, unknown>, string]> = [
      [{ weight: 9 }, 'weight'],
      [{ weight: 2 }, 'weight'], // the value it has: still a change request
      [{ rate: 0 }, 'rate'],
      [{ burst: 50 }, 'burst'],
      [{ max_in_flight: 0 }, 'max_in_flight'],
      [{ max_queued: '0' }, 'max_queued'],
      [{ queues: [{ queue: 'scoped-admin', weight: 1000 }] }, 'queues[scoped-admin].weight'],
      [
        { queues: [{ queue: 'other', rate: 5, burst: 5 }] },
        'queues[other].rate, queues[other].burst',
      ],
      [
        { queues: [{ queue: 'scoped-admin', max_in_flight: 0 }] },
        'queues[scoped-admin].max_in_flight',
      ],
      // Clearing the queue's override would drop the weight and cap it was given.
      [
        { queues: [{ queue: 'scoped-admin' }] },
        "queues[scoped-admin] (an override that sets nothing clears the queue's)",
      ],
      // Nothing of a refused call is applied, not even its pause.
      [
        { paused: true, weight: 5, queues: [{ queue: 'scoped-admin', paused: true, rate: 1 }] },
        'weight, queues[scoped-admin].rate',
      ],
    ];
    for (const [fields, named] of attempts) {
      expect(
        await outcome(s.admin.SetTenant.bind(s.admin), { tenant: { tenant: 'acme', ...fields } }),
      ).toEqual(refused(named));
    }
    expect(await ok(admin.admin.GetTenant.bind(admin.admin), { tenant: 'acme' })).toEqual(settled);

    // An admin of every tenant still sets them; then acme is back to the defaults.
    const reset = { weight: 1, rate: 0, max_in_flight: 0, max_queued: '0' };
    const back = await ok(admin.admin.SetTenant.bind(admin.admin), {
      tenant: { tenant: 'acme', ...reset, queues: [{ queue: 'scoped-admin' }] },
    });
    expect(back).toMatchObject({ ...reset, queues: [] });
  });

  it('refuses a scoped worker Hello.tenants and re-attachments outside its scope', async () => {
    const s = as(T.workerAcme);
    const only = work(s, { queues: ['q'], tenants: ['globex'] });
    expect(await only.ended()).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: denyTenant('globex', 'acme'),
    });
    const mixed = work(s, { queues: ['q'], tenants: ['acme', 'globex'] });
    expect(await mixed.ended()).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: denyTenant('globex', 'acme'),
    });
    const reattach = work(s, {
      queues: ['q'],
      in_flight: [{ job_id: 'j1', lease_token: 'x', tenant: 'globex' }],
    });
    expect(await reattach.ended()).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: denyTenant('globex', 'acme'),
    });
    const fine = work(s, { queues: ['q'], tenants: ['acme'] });
    await fine.welcome();
  });

  it('gives a scoped worker only its tenants’ jobs', async () => {
    const admin = as(T.admin);
    const enqueue = (tenant: string) =>
      ok(admin.broker.Enqueue.bind(admin.broker), { tenant, queue: 'scoped-work' });
    const ids = { acme: [] as string[], globex: [] as string[] };
    for (let i = 0; i < 5; i++) {
      ids.acme.push((await enqueue('acme')).job_id);
      ids.globex.push((await enqueue('globex')).job_id);
    }
    // No Hello.tenants: the token's scope applies.
    const scoped = work(as(T.workerAcme), { queues: ['scoped-work'], capacity: 20 });
    await scoped.welcome();
    scoped.startHeartbeats();
    await expect.poll(() => scoped.leases.length).toBe(5);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(scoped.leases.map((l) => l.tenant)).toEqual(Array(5).fill('acme'));
    expect(scoped.leases.map((l) => l.job_id).sort()).toEqual([...ids.acme].sort());

    const everyone = work(as(T.workerAll), { queues: ['scoped-work'], capacity: 20 });
    await everyone.welcome();
    everyone.startHeartbeats();
    await expect.poll(() => everyone.leases.length).toBe(5);
    expect(everyone.leases.map((l) => l.job_id).sort()).toEqual([...ids.globex].sort());
  });

  it('gives a scoped worker no hold on another tenant’s lease, even knowing its id and token', async () => {
    const admin = as(T.admin);
    const { job_id } = await ok(admin.broker.Enqueue.bind(admin.broker), {
      tenant: 'globex',
      queue: 'foreign-lease',
    });
    const holder = work(as(T.workerAll), { queues: ['foreign-lease'], tenants: ['globex'] });
    await holder.welcome();
    holder.startHeartbeats();
    await expect.poll(() => holder.leases.length).toBe(1);
    const { lease_token } = holder.leases[0]!;

    const intruder = work(as(T.workerAcme), { queues: ['foreign-lease'] });
    await intruder.welcome();
    intruder.startHeartbeats();
    const madeUp = '0000000000000000deadbeef';
    for (const id of [job_id, madeUp]) {
      intruder.send({ progress: { job_id: id, lease_token, data: Buffer.from('p') } });
      intruder.send({ complete: { job_id: id, lease_token, result: Buffer.from('r') } });
      intruder.send({ fail: { job_id: id, lease_token, message: 'x', retryable: false } });
    }
    const outcomes = () => intruder.messages.flatMap((m) => m.ack_result?.outcomes ?? []);
    await expect.poll(() => outcomes().length).toBe(6);
    // Answered as a lease that does not exist: nothing tells that the job is live.
    const answers = outcomes().map(({ status, message }) => ({ status, message }));
    expect(answers.slice(0, 3)).toEqual(answers.slice(3));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set(['ACK_STALE']));

    // Nor may it re-attach the lease by naming a tenant of its own.
    const reattach = work(as(T.workerAcme), {
      queues: ['foreign-lease'],
      in_flight: [{ job_id, lease_token, tenant: 'acme' }],
    });
    expect((await reattach.welcome()).refused_job_ids).toEqual([job_id]);

    const leased = await ok(admin.broker.GetJob.bind(admin.broker), { tenant: 'globex', job_id });
    expect(leased).toMatchObject({ state: 'LEASED', progress: Buffer.alloc(0) });
    holder.send({ complete: { job_id, lease_token, result: Buffer.from('mine') } });
    await expect
      .poll(async () => {
        const job = await ok(admin.broker.GetJob.bind(admin.broker), { tenant: 'globex', job_id });
        return [job.state, job.result.toString()];
      })
      .toEqual(['COMPLETED', 'mine']);
    expect(holder.messages.filter((m) => m.ack_result)).toEqual([]);
  });
});

describe('Producer and Worker with a token', () => {
  it('send the token with every call, the Work stream included', async () => {
    const producer = new Producer({ address: broker.address, token: T.producerAcme });
    const worker = new Worker({
      address: broker.address,
      token: T.workerAcme,
      queues: ['clients'],
      shutdownSignals: [],
      handler: (job) => ({ echo: job.payload }),
    });
    try {
      await worker.start();
      const { jobId } = await producer.enqueue({
        tenant: 'acme',
        queue: 'clients',
        payload: { n: 1 },
      });
      await expect
        .poll(async () => (await producer.getJob('acme', jobId)).state, { timeout: 5000 })
        .toBe('COMPLETED');
      const refused = producer.enqueue({ tenant: 'globex', queue: 'clients', payload: {} });
      await expect(refused).rejects.toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
        message: denyTenant('globex', 'acme, initech'),
      });
    } finally {
      await worker.close();
      await producer.close();
    }
  });

  it('refuse a Producer without a producer token on its enqueue stream', async () => {
    for (const [token, code] of [
      [undefined, grpc.status.UNAUTHENTICATED],
      [T.workerAll, grpc.status.PERMISSION_DENIED],
    ] as const) {
      const producer = new Producer({ address: broker.address, token });
      try {
        await expect(
          producer.enqueue({ tenant: 'acme', queue: 'clients', payload: {} }),
        ).rejects.toMatchObject({ code });
      } finally {
        await producer.close();
      }
    }
  });

  it('a Worker with a wrong token fails to start, and does not retry', async () => {
    const worker = new Worker({
      address: broker.address,
      token: T.producerAll,
      queues: ['clients'],
      shutdownSignals: [],
      handler: () => undefined,
    });
    const error = await worker.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RotaError);
    expect(error).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await worker.close();
    expect(worker.state).toBe('STOPPED');
  });

  it('rejects conflicting client options', () => {
    expect(
      () =>
        new Producer({
          address: broker.address,
          token: T.admin,
          metadata: { authorization: 'Bearer x' },
        }),
    ).toThrow('token and metadata.authorization are both set; give one');
    expect(() => new Producer({ address: broker.address, token: 'has space' })).toThrow(
      'token must be a non-empty string of printable characters without spaces',
    );
  });
});
