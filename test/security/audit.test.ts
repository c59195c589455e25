/**
 * The audit trail against a real broker: each call that changes state logs
 * one info line naming the caller (its token's name or digest prefix), the
 * RPC, its target and its outcome; refusals for the token log a throttled
 * warning; a Work session names its caller when it opens; and no line holds a
 * token. A second broker without tokens names its callers as such.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/token-digest.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { ok, outcome, stubs, WorkStream, type Stubs } from './fixture.js';

const T = {
  admin: 'audit-admin-0123456789', // named ops-admin
  adminAcme: 'audit-admin-acme-0123456789', // unnamed; acme
  producer: 'audit-producer-0123456789', // named billing-api
  producerAcme: 'audit-producer-acme-0123456789', // unnamed; acme
  worker: 'audit-worker-0123456789', // named night-worker
};
const hex = (token: string): string => sha256(token).toString('hex');

type Line = Record<string, unknown>;

let redis: TestRedis;
let dir: string;
let broker: TestBroker;
let open: TestBroker;
/** Every line each broker logged, parsed. */
const logged: Line[] = [];
const openLogged: Line[] = [];
const closers: Array<{ close(): unknown }> = [];
const as = (token: string | undefined, address = broker.address): Stubs => {
  const s = stubs(address, token);
  closers.push(s);
  return s;
};
const linesOf = (lines: readonly Line[], rpc: string): Line[] =>
  lines.filter((line) => line.rpc === rpc && line.level === 30);
/**
 * A broker with the tokens of `broker`, logging into `lines`: of its own, as a
 * refusal warning holds the next of its kind back for 10 s. The caller stops it.
 */
const brokerOfItsOwn = (lines: Line[]): Promise<TestBroker> =>
  startTestBroker({
    redisUrl: redis.url,
    authFile: path.join(dir, 'tokens.json'),
    logLevel: 'info',
    onLog: (line) => lines.push(line),
  });

beforeAll(async () => {
  redis = await startTestRedis();
  const tokens = [
    { token: T.admin, role: 'admin', name: 'ops-admin' },
    { token: T.adminAcme, role: 'admin', tenants: ['acme'] },
    { token: T.producer, role: 'producer', name: 'billing-api' },
    { token: T.producerAcme, role: 'producer', tenants: ['acme'] },
    { token: T.worker, role: 'worker', name: 'night-worker' },
  ];
  dir = await mkdtemp(path.join(tmpdir(), 'rota-test-audit-'));
  const authFile = path.join(dir, 'tokens.json');
  await writeFile(authFile, JSON.stringify(tokens));
  broker = await startTestBroker({
    redisUrl: redis.url,
    authFile,
    logLevel: 'info',
    onLog: (line) => logged.push(line),
  });
  open = await startTestBroker({
    redisUrl: redis.url,
    logLevel: 'info',
    onLog: (line) => openLogged.push(line),
  });
});

afterAll(async () => {
  for (const item of closers) item.close();
  await broker?.shutdown();
  await open?.shutdown();
  await redis?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('audit trail', () => {
  it('logs each call that changes state once, with its caller, target and outcome', async () => {
    const admin = as(T.admin);
    const producer = as(T.producer);
    const scoped = as(T.adminAcme);

    await ok(admin.admin.SetTenant.bind(admin.admin), {
      tenant: { tenant: 'acme', weight: 3, paused: true },
    });
    for (let i = 0; i < 3; i++) {
      await ok(producer.broker.Enqueue.bind(producer.broker), { tenant: 'acme', queue: 'audit' });
    }
    const { job_id } = await ok(producer.broker.Enqueue.bind(producer.broker), {
      tenant: 'acme',
      queue: 'cancel',
    });
    await ok(producer.broker.CancelJob.bind(producer.broker), { tenant: 'acme', job_id });
    expect(await ok(scoped.admin.PurgeQueue.bind(scoped.admin), { tenant: 'acme', queue: 'audit' }))
      .toEqual({ purged: 3 }); // prettier-ignore
    await ok(admin.admin.ReplayDeadLetters.bind(admin.admin), {
      tenant: 'acme',
      queue: 'audit',
      job_ids: ['no-such-job-1', 'no-such-job-2'],
    });
    await ok(admin.admin.DeleteDeadLetters.bind(admin.admin), {
      tenant: 'acme',
      queue: 'audit',
      all: true,
    });
    const refused = await outcome(admin.admin.PurgeQueue.bind(admin.admin), {
      tenant: 'acme',
      queue: 'no spaces',
    });
    expect(refused).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT });

    expect(linesOf(logged, 'SetTenant')).toEqual([
      expect.objectContaining({
        caller: 'ops-admin',
        tenant: 'acme',
        changes: { weight: 3, paused: true },
        outcome: 'OK',
        settings: expect.objectContaining({ weight: 3, paused: true, rate: 0 }) as unknown,
        msg: 'tenant settings changed',
      }),
    ]);
    expect(linesOf(logged, 'CancelJob')).toEqual([
      expect.objectContaining({
        caller: 'billing-api',
        tenant: 'acme',
        jobId: job_id,
        outcome: 'OK',
        cancelled: true,
        state: 'CANCELLED',
        msg: 'cancelled a job',
      }),
    ]);
    // An unnamed token is named by the first 12 hex digits of its digest.
    expect(linesOf(logged, 'PurgeQueue')).toEqual([
      expect.objectContaining({
        caller: `sha256:${hex(T.adminAcme).slice(0, 12)}`,
        tenant: 'acme',
        queue: 'audit',
        outcome: 'OK',
        purged: 3,
        msg: 'purged the waiting jobs of a queue',
      }),
      expect.objectContaining({
        caller: 'ops-admin',
        queue: 'no spaces',
        outcome: 'INVALID_ARGUMENT',
        error: 'queue is "no spaces"; it must match [A-Za-z0-9_.-]{1,64}',
        msg: 'PurgeQueue failed',
      }),
    ]);
    expect(linesOf(logged, 'ReplayDeadLetters')).toEqual([
      expect.objectContaining({
        caller: 'ops-admin',
        tenant: 'acme',
        queue: 'audit',
        jobIds: 2,
        outcome: 'OK',
        replayed: 0,
        notFound: 2,
        msg: 'replayed dead letters',
      }),
    ]);
    expect(linesOf(logged, 'DeleteDeadLetters')).toEqual([
      expect.objectContaining({
        caller: 'ops-admin',
        all: true,
        outcome: 'OK',
        deleted: 0,
        notFound: 0,
        msg: 'deleted dead letters',
      }),
    ]);
    // Written once: the broker does not log the same purge again.
    expect(logged.filter((line) => line.msg === 'purged the waiting jobs of a queue')).toHaveLength(
      1,
    );
    // Calls that change nothing are not in the trail.
    await ok(admin.admin.GetTenant.bind(admin.admin), { tenant: 'acme' });
    expect(linesOf(logged, 'GetTenant')).toEqual([]);
  });

  it('names the caller of a Work session when it opens', async () => {
    const w = new WorkStream(as(T.worker), { worker_id: 'w-1', queues: ['audit-work'] });
    closers.push(w);
    await w.welcome();
    expect(logged.filter((line) => line.msg === 'worker session opened')).toEqual([
      expect.objectContaining({ caller: 'night-worker', workerId: 'w-1' }),
    ]);
  });

  it('warns of refusals for the token, at most once per interval however many', async () => {
    const intruder = as('not-a-token-of-this-broker');
    const calls = Array.from({ length: 50 }, () =>
      outcome(intruder.admin.PurgeQueue.bind(intruder.admin), { tenant: 'acme', queue: 'audit' }),
    );
    for (const result of await Promise.all(calls)) {
      expect(result).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    }
    const bad = new WorkStream(as(undefined), { worker_id: 'w', queues: ['q'] });
    closers.push(bad);
    expect((await bad.ended()).code).toBe(grpc.status.UNAUTHENTICATED);
    const unauthenticated = logged.filter(
      (line) => line.msg === 'call refused: no valid token (UNAUTHENTICATED)',
    );
    expect(unauthenticated).toEqual([
      expect.objectContaining({
        level: 40,
        rpc: 'PurgeQueue',
        peer: expect.stringMatching(/127\.0\.0\.1/) as unknown,
      }),
    ]);

    const scoped = as(T.adminAcme);
    const producer = as(T.producer);
    for (let i = 0; i < 5; i++) {
      await outcome(scoped.admin.PurgeQueue.bind(scoped.admin), { tenant: 'globex', queue: 'q' });
      await outcome(producer.admin.SetTenant.bind(producer.admin), { tenant: { tenant: 'acme' } });
    }
    expect(
      logged.filter(
        (line) => line.msg === 'call refused: the token may not make it (PERMISSION_DENIED)',
      ),
    ).toEqual([
      expect.objectContaining({
        level: 40,
        rpc: 'PurgeQueue',
        caller: `sha256:${hex(T.adminAcme).slice(0, 12)}`,
        reason: 'this token may not act for tenant "globex"; its tenants are: acme',
      }),
    ]);
    // Refused calls are not in the info trail: nothing was tried.
    expect(linesOf(logged, 'PurgeQueue').filter((line) => line.tenant === 'globex')).toEqual([]);
  });

  it('warns of the refusals left out when the broker stops, before it says it stopped', async () => {
    const lines: Line[] = [];
    const own = await brokerOfItsOwn(lines);
    const told = () =>
      lines
        .filter(({ msg }) => msg === 'call refused: no valid token (UNAUTHENTICATED)')
        .map(({ leftOut }) => leftOut);
    try {
      const intruder = as('not-a-token-of-this-broker', own.address);
      for (let i = 0; i < 3; i++) {
        const refused = await outcome(intruder.admin.PurgeQueue.bind(intruder.admin), {
          tenant: 'acme',
          queue: 'audit',
        });
        expect(refused).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      }
      expect(told()).toEqual([undefined]);
    } finally {
      await own.shutdown();
    }
    // The last two are told at the stop: their flush timer would have told them
    // 10 s after the broker said it stopped, and it is gone.
    expect(told()).toEqual([undefined, 1]);
    expect(lines.at(-1)).toMatchObject({ msg: 'rota broker stopped' });
  });

  it('warns of a scoped admin changing its tenants’ share as of any PERMISSION_DENIED', async () => {
    const lines: Line[] = [];
    const own = await brokerOfItsOwn(lines);
    try {
      const scoped = as(T.adminAcme, own.address);
      const refused = await outcome(scoped.admin.SetTenant.bind(scoped.admin), {
        tenant: { tenant: 'acme', paused: true, weight: 100 },
      });
      expect(refused).toMatchObject({ ok: false, code: grpc.status.PERMISSION_DENIED });
      expect(lines.filter((line) => line.level === 40 && line.rpc === 'SetTenant')).toEqual([
        expect.objectContaining({
          msg: 'call refused: the token may not make it (PERMISSION_DENIED)',
          rpc: 'SetTenant',
          caller: `sha256:${hex(T.adminAcme).slice(0, 12)}`,
          reason: expect.stringMatching(
            /^this token is limited to tenants \(acme\).* not set weight,/,
          ) as unknown,
        }),
      ]);
      // Refused for the token, as a tenant outside its scope: not tried, so not in the info trail.
      expect(linesOf(lines, 'SetTenant')).toEqual([]);
      await ok(scoped.admin.SetTenant.bind(scoped.admin), {
        tenant: { tenant: 'acme', paused: false },
      });
      expect(linesOf(lines, 'SetTenant')).toEqual([
        expect.objectContaining({ tenant: 'acme', changes: { paused: false }, outcome: 'OK' }),
      ]);
    } finally {
      await own.shutdown();
    }
  });

  it('warns of a batch item refused for the token, as of a refused call', async () => {
    const denied = (rpc: string): unknown =>
      expect.objectContaining({
        msg: 'call refused: the token may not make it (PERMISSION_DENIED)',
        rpc,
        caller: `sha256:${hex(T.producerAcme).slice(0, 12)}`,
        reason: 'this token may not act for tenant "globex"; its tenants are: acme',
      });
    const warnings = (lines: readonly Line[], rpc: string) =>
      lines.filter((line) => line.level === 40 && line.rpc === rpc);
    // A broker of its own per call: a refusal warning holds the next back for 10 s.
    const batchLines: Line[] = [];
    const batchBroker = await brokerOfItsOwn(batchLines);
    try {
      const producer = as(T.producerAcme, batchBroker.address);
      const { results } = await ok(producer.broker.EnqueueBatch.bind(producer.broker), {
        jobs: [
          { tenant: 'acme', queue: 'audit-batch' },
          { tenant: 'globex', queue: 'audit-batch' },
          { tenant: 'globex', queue: 'audit-batch' },
        ],
      });
      expect(results.map((item) => item.code)).toEqual([
        grpc.status.OK,
        grpc.status.PERMISSION_DENIED,
        grpc.status.PERMISSION_DENIED,
      ]);
      expect(warnings(batchLines, 'EnqueueBatch')).toEqual([denied('EnqueueBatch')]);
    } finally {
      await batchBroker.shutdown();
    }

    const streamLines: Line[] = [];
    const streamBroker = await brokerOfItsOwn(streamLines);
    try {
      const producer = as(T.producerAcme, streamBroker.address);
      const stream = producer.broker.EnqueueStream();
      const answers: Array<{ results: Array<{ code: number }> }> = [];
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('data', (answer: { results: Array<{ code: number }> }) => answers.push(answer));
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      stream.write({ request_id: '1', jobs: [{ tenant: 'globex', queue: 'audit-stream' }] });
      stream.end();
      await ended;
      expect(answers.map((answer) => answer.results.map((item) => item.code))).toEqual([
        [grpc.status.PERMISSION_DENIED],
      ]);
      expect(warnings(streamLines, 'EnqueueStream')).toEqual([denied('EnqueueStream')]);
    } finally {
      await streamBroker.shutdown();
    }
  });

  it('logs no token', () => {
    const text = JSON.stringify(logged);
    for (const token of Object.values(T)) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(hex(token));
    }
  });

  it('says auth is off when the broker has no tokens', async () => {
    const anyone = as(undefined, open.address);
    await ok(anyone.admin.PurgeQueue.bind(anyone.admin), { tenant: 'acme', queue: 'audit-open' });
    const w = new WorkStream(anyone, { worker_id: 'w-open', queues: ['audit-open'] });
    closers.push(w);
    await w.welcome();
    expect(linesOf(openLogged, 'PurgeQueue')).toEqual([
      expect.objectContaining({ caller: 'anonymous (auth off)', purged: 0 }),
    ]);
    expect(openLogged.filter((line) => line.msg === 'worker session opened')).toEqual([
      expect.objectContaining({ caller: 'anonymous (auth off)', workerId: 'w-open' }),
    ]);
  });
});
