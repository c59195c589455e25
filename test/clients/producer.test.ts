import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { RotaError } from '../../clients/errors.js';
import { Producer } from '../../clients/producer.js';
import { shutdownWhileStoring, startTestBroker } from '../helpers/broker.js';
import {
  callCounter,
  completed,
  keepEnqueueing,
  STREAM,
  useRota,
  waitFor,
  waitingJobs,
} from './fixture.js';

const rota = useRota();

/** What a call rejects with (a call that throws instead fails the test). */
const rejection = (pending: Promise<unknown>): Promise<unknown> =>
  pending.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('Producer', () => {
  it('enqueues a job a Worker runs; getJob shows it COMPLETED with the result', async () => {
    const producer = rota.producer();
    const worker = rota.worker({
      queues: ['email'],
      handler: (job) => ({ sentTo: (job.payload as { to: string }).to, attempt: job.attempt }),
    });
    await worker.start();
    const { jobId, duplicate } = await producer.enqueue({
      tenant: 'acme',
      queue: 'email',
      payload: { to: 'a@example.com' },
    });
    expect(duplicate).toBe(false);
    const job = await completed(producer, 'acme', jobId);
    expect(job.result).toEqual({ sentTo: 'a@example.com', attempt: 1 });
    expect(job.payload).toEqual({ to: 'a@example.com' });
    expect(job.headers['content-type']).toBe('application/json');
    expect(job.attempts).toBe(1);
    expect(job.tenant).toBe('acme');
    expect(job.queue).toBe('email');
    expect(job.finishedAt).toBeGreaterThanOrEqual(job.createdAt);
  });

  it('sends binary payloads as they are', async () => {
    const producer = rota.producer();
    const seen: unknown[] = [];
    const worker = rota.worker({
      queues: ['bin'],
      handler: (job) => void seen.push(job.payload),
    });
    await worker.start();
    const bytes = Buffer.from([0, 1, 2, 255]);
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'bin', payload: bytes });
    await waitFor(async () =>
      (await producer.getJob('acme', jobId)).state === 'COMPLETED' ? true : undefined,
    );
    expect(seen).toEqual([bytes]);
    const job = await producer.getJob('acme', jobId);
    expect(job.rawPayload).toEqual(bytes);
    expect(job.headers['content-type']).toBeUndefined();
    expect(job.result).toBeUndefined();
  });

  it('gives back a Buffer result and progress as bytes, even bytes that read as JSON', async () => {
    const producer = rota.producer();
    const results = [Buffer.from([0, 1, 2, 255]), Buffer.from('123'), new Uint8Array([7, 8])];
    const worker = rota.worker({
      queues: ['bin-result'],
      handler: async (job, ctx) => {
        const returned = results[(job.payload as { i: number }).i]!;
        await ctx.progress(returned);
        return returned;
      },
    });
    await worker.start();
    for (const [i, returned] of results.entries()) {
      const { jobId } = await producer.enqueue({
        tenant: 'acme',
        queue: 'bin-result',
        payload: { i },
      });
      const job = await waitFor(async () => {
        const read = await producer.getJob('acme', jobId);
        return read.state === 'COMPLETED' ? read : undefined;
      });
      expect(Buffer.isBuffer(job.result)).toBe(true);
      expect(job.result).toEqual(Buffer.from(returned));
      expect(Buffer.isBuffer(job.progress)).toBe(true);
      expect(job.progress).toEqual(Buffer.from(returned));
    }
  });

  it('coalesces concurrent enqueue() calls into few messages on one EnqueueStream', async () => {
    const { calls, messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor], maxBatch: 40 });
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        producer.enqueue({ tenant: `t${i % 3}`, queue: 'coalesce', payload: { i } }),
      ),
    );
    expect(new Set(results.map((r) => r.jobId)).size).toBe(100);
    expect(calls.get(STREAM)).toBe(1);
    expect(messages.get(STREAM)).toBe(3); // 40 + 40 + 20
    expect(calls.get('/rota.v1.Broker/Enqueue')).toBeUndefined();
    expect(calls.get('/rota.v1.Broker/EnqueueBatch')).toBeUndefined();
    const job = await producer.getJob('t1', results[1]!.jobId);
    expect(job.payload).toEqual({ i: 1 });
    expect(job.state).toBe('WAITING');
  });

  it('gives each coalesced caller its own item error', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const outcomes = await Promise.allSettled([
      producer.enqueue({ tenant: 'acme', queue: 'mixed', payload: 1 }),
      // An int32 the client sends; the broker refuses it (0–9).
      producer.enqueue({ tenant: 'acme', queue: 'mixed', payload: 2, priority: 10 }),
      producer.enqueue({ tenant: 'acme', queue: 'mixed', payload: 3 }),
    ]);
    expect(messages.get(STREAM)).toBe(1);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (outcomes[1] as PromiseRejectedResult).reason as RotaError;
    expect(error).toBeInstanceOf(RotaError);
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.codeName).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/priority/);
  });

  it('refuses numbers its wire fields would wrap or truncate, before sending them', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const job = { tenant: 'acme', queue: 'wrapped' };
    // sent as they are, these would reach the broker as 2, 3, 1000, and 2^32 - 1
    for (const [field, bad] of [
      ['priority', { priority: 2.5 }],
      ['maxAttempts', { maxAttempts: 2 ** 32 + 3 }],
      ['timeoutMs', { timeoutMs: 2 ** 32 + 1000 }],
      ['backoff.initialMs', { backoff: { initialMs: -1 } }],
      ['delayMs', { delayMs: 1e300 }],
    ] as const) {
      const error = await producer.enqueue({ ...job, ...bad }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(RotaError);
      expect((error as RotaError).code).toBe(grpc.status.INVALID_ARGUMENT);
      expect((error as RotaError).message).toMatch(new RegExp(`^${field} must be an integer`));
    }
    expect(messages.get(STREAM)).toBeUndefined();
    const [bad, good] = await producer.enqueueBatch([
      { ...job, maxAttempts: 2 ** 32 + 3 },
      { ...job, maxAttempts: 3 },
    ]);
    expect(bad).toMatchObject({ error: { code: grpc.status.INVALID_ARGUMENT } });
    if (!good || !('jobId' in good)) throw new Error('the valid job should be stored');
    expect((await producer.getJob('acme', good.jobId)).maxAttempts).toBe(3);
  });

  it('lets a caller send the 64 headers README allows with a JSON payload (content-type not counted)', async () => {
    const producer = rota.producer();
    const headers = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`h${i}`, 'v']));
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'h', headers, payload: 1 });
    const job = await producer.getJob('acme', jobId);
    expect(job.headers).toEqual({ ...headers, 'content-type': 'application/json' });
    expect(job.payload).toBe(1);
  });

  it('enqueueBatch answers item by item (one invalid priority among valid ones)', async () => {
    const producer = rota.producer();
    const results = await producer.enqueueBatch([
      { tenant: 'acme', queue: 'batch', payload: 'a' },
      { tenant: 'acme', queue: 'batch', payload: 'b', priority: 10 },
      { tenant: 'globex', queue: 'batch', payload: 'c' },
    ]);
    expect(results).toHaveLength(3);
    expect('jobId' in results[0]!).toBe(true);
    expect('jobId' in results[2]!).toBe(true);
    const bad = results[1]!;
    if (!('error' in bad)) throw new Error('item 1 should have failed');
    expect(bad.error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.error.message).toMatch(/priority/);
    const ok = results[2]!;
    if (!('jobId' in ok)) throw new Error('item 2 should have succeeded');
    expect((await producer.getJob('globex', ok.jobId)).payload).toBe('c');
  });

  // From JavaScript these failed with "jobs.forEach is not a function", or
  // threw "Cannot read properties of null" out of enqueue() rather than rejecting.
  it('refuses jobs that are not objects, and a batch that is not an array, with INVALID_ARGUMENT', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const bad = (value: unknown): never => value as never;
    const notArray = await rejection(producer.enqueueBatch(bad({ tenant: 'acme' })));
    expect(notArray).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: 'jobs must be an array of jobs ({ tenant, queue, … }), got object',
    });
    const lone = await rejection(producer.enqueue(bad(null)));
    expect(lone).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: 'job must be an object, got null',
    });
    const [nullJob, good] = await producer.enqueueBatch([
      bad(null),
      { tenant: 'acme', queue: 'shapes' },
    ]);
    expect(nullJob).toMatchObject({
      error: { code: grpc.status.INVALID_ARGUMENT, message: 'job must be an object, got null' },
    });
    expect(good).toMatchObject({ duplicate: false });
    expect(messages.get(STREAM)).toBe(1);
  });

  // From JavaScript backoff: 1000 was ignored: the job got the broker's default backoff.
  it('refuses a backoff that is not an object, with INVALID_ARGUMENT', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const refused = await rejection(
      producer.enqueue({ tenant: 'acme', queue: 'q', backoff: 1000 as never }),
    );
    expect(refused).toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: 'backoff must be an object, got number',
    });
    expect(messages.get(STREAM)).toBeUndefined();
  });

  // protobuf sent String(value): every object key as '[object Object]', so the
  // second job was answered as a duplicate of the first and never stored.
  it('refuses an idempotencyKey that is not a string, and headers that are not an object', async () => {
    const producer = rota.producer();
    const job = { tenant: 'acme', queue: 'q' };
    const first = await producer.enqueue({ ...job, idempotencyKey: { order: 1 } as never }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(first).toMatchObject({
      codeName: 'INVALID_ARGUMENT',
      message: 'idempotencyKey must be a string, got object',
    });
    const [stored, other] = await producer.enqueueBatch([
      { ...job, idempotencyKey: 'order-1' },
      { ...job, headers: ['trace', 'x'] as never },
    ]);
    expect(stored).toMatchObject({ duplicate: false });
    expect(other).toMatchObject({
      error: { codeName: 'INVALID_ARGUMENT', message: 'headers must be an object, got array' },
    });
  });

  // Buffer.byteLength threw on the value while the batch was grouped: from the
  // setImmediate flush an uncaught TypeError that ended the process, from a
  // full batch's flush a neighbour left unsettled, and from enqueueBatch() a
  // rejection of the whole call.
  it('refuses a header value that is not a string alone, its neighbours stored', async () => {
    const job = { tenant: 'acme', queue: 'header-values' };
    const notString = (value: unknown): string => value as string;
    const producer = rota.producer();
    await expect(
      producer.enqueue({ ...job, headers: { attempt: notString(1) } }),
    ).rejects.toMatchObject({
      codeName: 'INVALID_ARGUMENT',
      message: 'headers["attempt"] must be a string, got 1',
    });

    const full = rota.producer({ maxBatch: 2 }); // the second call flushes at once
    const [good, bad] = await Promise.allSettled([
      full.enqueue({ ...job, payload: 'fine' }),
      full.enqueue({ ...job, headers: { user: notString(undefined) } }),
    ]);
    expect(good).toMatchObject({ status: 'fulfilled', value: { duplicate: false } });
    expect(bad).toMatchObject({
      status: 'rejected',
      reason: {
        codeName: 'INVALID_ARGUMENT',
        message: 'headers["user"] must be a string, got undefined',
      },
    });

    const items = await producer.enqueueBatch([
      { ...job, payload: 'fine' },
      { ...job, headers: { attempt: notString(2) } },
    ]);
    expect(items).toMatchObject([
      { duplicate: false },
      {
        error: {
          codeName: 'INVALID_ARGUMENT',
          message: 'headers["attempt"] must be a string, got 2',
        },
      },
    ]);
  });

  it('refuses a payload JSON cannot encode alone, and sends a JSON payload as JSON whatever content-type the caller set', async () => {
    const job = { tenant: 'acme', queue: 'payload-encoding' };
    const producer = rota.producer();
    const [bigint, fn, circular] = await producer.enqueueBatch([
      { ...job, payload: 10n },
      { ...job, payload: () => 1 },
      {
        ...job,
        payload: (() => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        })(),
      },
    ]);
    expect(bigint).toMatchObject({
      error: {
        codeName: 'INVALID_ARGUMENT',
        message: 'payload: value is not JSON-serializable: Do not know how to serialize a BigInt',
      },
    });
    expect(fn).toMatchObject({
      error: {
        codeName: 'INVALID_ARGUMENT',
        message: 'payload: value of type function is not JSON-serializable',
      },
    });
    expect(circular).toMatchObject({ error: { codeName: 'INVALID_ARGUMENT' } });
    expect((circular as { error: Error }).error.message).toMatch(/^payload: .*circular/);

    // A stale Content-Type would make the Worker hand the JSON over as bytes.
    const { jobId } = await producer.enqueue({
      ...job,
      payload: { n: 1 },
      headers: { 'Content-Type': 'text/plain', 'x-trace': 'kept' },
    });
    const stored = await producer.getJob('acme', jobId);
    expect(stored.headers).toEqual({ 'content-type': 'application/json', 'x-trace': 'kept' });
    expect(stored.payload).toEqual({ n: 1 });
  });

  // protobuf sent String(value): tenant 42 as '42', queue ['a'] as 'a', so the
  // job went to a tenant or queue the caller never named.
  it('refuses a tenant, queue or job id that is not a string', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const notString = (value: unknown): string => value as string;
    const refusal = (message: string): object => ({ codeName: 'INVALID_ARGUMENT', message });
    await expect(producer.enqueue({ tenant: notString(42), queue: 'q' })).rejects.toMatchObject(
      refusal('tenant must be a string, got 42'),
    );
    const [item] = await producer.enqueueBatch([{ tenant: 'acme', queue: notString(['a']) }]);
    expect(item).toMatchObject({ error: refusal('queue must be a string, got array') });
    expect(messages.get(STREAM)).toBeUndefined();
    await expect(producer.getJob(notString(42), 'id')).rejects.toMatchObject(
      refusal('tenant must be a string, got 42'),
    );
    await expect(producer.cancel('acme', notString(['id']))).rejects.toMatchObject(
      refusal('jobId must be a string, got array'),
    );
  });

  it('rejects every caller of a batch when the whole RPC fails, and answers each item of an enqueueBatch() with it', async () => {
    const producer = new Producer({ address: '127.0.0.1:1', timeoutMs: 2000 });
    try {
      const outcomes = await Promise.allSettled([
        producer.enqueue({ tenant: 'acme', queue: 'q' }),
        producer.enqueue({ tenant: 'acme', queue: 'q' }),
      ]);
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        const reason = (outcome as PromiseRejectedResult).reason as RotaError;
        expect(reason).toBeInstanceOf(RotaError);
        expect(reason.codeName).toBe('UNAVAILABLE');
      }
      // enqueueBatch() never rejects for a broker failure: each item carries its batch's error.
      const items = await producer.enqueueBatch([
        { tenant: 'acme', queue: 'q' },
        { tenant: 'acme', queue: 'bad/queue' },
        { tenant: 'acme', queue: 'q' },
      ]);
      expect(items.map((item) => 'error' in item && item.error.codeName)).toEqual([
        'UNAVAILABLE',
        'INVALID_ARGUMENT',
        'UNAVAILABLE',
      ]);
    } finally {
      await producer.close();
    }
  });

  it('fails the enqueue() calls a graceful shutdown of its only broker left unread as not stored', async () => {
    const producer = rota.producer();
    await producer.enqueue({ tenant: 'acme', queue: 'last' });
    const busy = keepEnqueueing(producer, 'last');
    await shutdownWhileStoring(rota.broker, 1000);
    // With no broker to take them, every caller ends with an error.
    await waitFor(() => (busy.errors.length === 16 ? true : undefined));
    await busy.stop();

    for (const error of busy.errors) {
      expect(error.codeName).toBe('UNAVAILABLE');
      expect(error.message).toBe(
        'the broker shut down before reading these jobs and no broker answers now; they were not stored: enqueue them again once a broker is up',
      );
    }
    // On a new address: the Producer's failed connection to the old one holds
    // grpc-js's shared subchannel in its backoff.
    const { redisUrl, keyPrefix } = rota.broker.config;
    const next = await startTestBroker({ redisUrl: redisUrl!, keyPrefix });
    try {
      expect(await waitingJobs(next.address, 'last')).toBe(busy.jobIds.length + 1);
    } finally {
      await next.shutdown(1000);
    }
  });

  it('returns the first job for a repeated idempotency key', async () => {
    const producer = rota.producer();
    const first = await producer.enqueue({ tenant: 'acme', queue: 'orders', idempotencyKey: 'k1' });
    const again = await producer.enqueue({ tenant: 'acme', queue: 'orders', idempotencyKey: 'k1' });
    expect(again).toEqual({ jobId: first.jobId, duplicate: true });
  });

  // Redis holds the broker's writes (reads go on, so the broker does not take it for down).
  it('fails an enqueue() not answered within timeoutMs, then a retry with its idempotency key finds the job stored late', async () => {
    const producer = rota.producer({ timeoutMs: 300 });
    await producer.enqueue({ tenant: 'acme', queue: 'late' }); // the stream is open
    const redis = new Redis(rota.broker.config.redisUrl!);
    try {
      await redis.call('CLIENT', 'PAUSE', '1500', 'WRITE');
      const error = (await rejection(
        producer.enqueue({ tenant: 'acme', queue: 'late', idempotencyKey: 'late-1' }),
      )) as RotaError;
      expect(error).toBeInstanceOf(RotaError);
      expect(error.codeName).toBe('DEADLINE_EXCEEDED');
      expect(error.message).toContain(
        'no answer from the broker within 300 ms; the jobs may have been stored: retry with the same idempotency keys',
      );
      await redis.call('CLIENT', 'UNPAUSE');
    } finally {
      redis.disconnect();
    }
    // The late answer is dropped, and the stream serves the next calls.
    const retried = await producer.enqueue({
      tenant: 'acme',
      queue: 'late',
      idempotencyKey: 'late-1',
    });
    expect(retried.duplicate).toBe(true);
    expect((await producer.getJob('acme', retried.jobId)).state).toBe('WAITING');
    expect(await waitingJobs(rota.address, 'late')).toBe(2);
  });

  it('maps NOT_FOUND from getJob to a RotaError', async () => {
    const producer = rota.producer();
    const error = await producer.getJob('acme', 'no-such-job').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RotaError);
    expect((error as RotaError).codeName).toBe('NOT_FOUND');
  });

  it('cancels a waiting job, and reports a second cancel as already ended', async () => {
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'nobody', delayMs: 60_000 });
    expect(await producer.cancel('acme', jobId)).toEqual({ cancelled: true, state: 'CANCELLED' });
    expect(await producer.cancel('acme', jobId)).toEqual({ cancelled: false, state: 'CANCELLED' });
  });

  // From process.env: a timeoutMs of '5000' passed the range check and made every
  // getJob and cancel fail ("deadline must be a number or Date": Date.now() + '5000').
  it('refuses numbers given as strings, naming them as strings', async () => {
    const text = (value: string): number => value as unknown as number;
    expect(() => new Producer({ timeoutMs: text('5000') })).toThrow(
      new TypeError(
        'Producer: timeoutMs must be a number of ms from 1 to 2147482647 (24.8 days; leave it unset for no deadline), got the string "5000"',
      ),
    );
    expect(() => new Producer({ maxBatch: text('100') })).toThrow(
      new TypeError('Producer: maxBatch must be an integer ≥ 1, got the string "100"'),
    );
    const producer = rota.producer();
    await expect(
      producer.enqueue({ tenant: 'acme', queue: 'q', priority: text('5') }),
    ).rejects.toMatchObject({
      codeName: 'INVALID_ARGUMENT',
      message: 'priority must be an integer from -2147483648 to 2147483647, got the string "5"',
    });
  });

  it('refuses a timeoutMs past what a timer can wait, which failed every enqueue at once', async () => {
    // setTimeout waits 1 ms for anything over 2^31 − 1 ms (24.8 days).
    expect(() => new Producer({ timeoutMs: 30 * 24 * 3_600_000 })).toThrow(
      'Producer: timeoutMs must be a number of ms from 1 to 2147482647 (24.8 days; leave it unset for no deadline), got 2592000000',
    );
    expect(() => new Producer({ timeoutMs: Infinity })).toThrow(/got Infinity/);
    const producer = rota.producer({ timeoutMs: 2 ** 31 - 1 - 1000 });
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'long-deadline' });
    expect((await producer.getJob('acme', jobId)).state).toBe('WAITING');
  });

  it('close() waits for an enqueueBatch under way, every part of it stored', async () => {
    const producer = rota.producer({ maxBatch: 2 });
    const jobs = Array.from({ length: 7 }, () => ({ tenant: 'acme', queue: 'close-batch' }));
    const batch = producer.enqueueBatch(jobs);
    let batchDone = false;
    void batch.then(() => (batchDone = true));
    await producer.close();
    expect(batchDone, 'close() resolved before the batch').toBe(true);
    const results = await batch;
    expect(results.filter((item) => 'error' in item)).toEqual([]);
  });

  it('a second close() resolves only when the first is done', async () => {
    const producer = rota.producer();
    let stored = false;
    void producer.enqueue({ tenant: 'acme', queue: 'close-twice' }).then(() => (stored = true));
    void producer.close();
    await producer.close();
    expect(stored, 'the second close() resolved before the enqueue it waits for').toBe(true);
  });

  it('refuses calls after close()', async () => {
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'q' });
    await producer.close();
    const closed = { codeName: 'FAILED_PRECONDITION', message: 'the Producer is closed' };
    await expect(producer.enqueue({ tenant: 'acme', queue: 'q' })).rejects.toMatchObject(closed);
    await expect(producer.enqueueBatch([{ tenant: 'acme', queue: 'q' }])).rejects.toMatchObject(
      closed,
    );
    await expect(producer.getJob('acme', jobId)).rejects.toMatchObject(closed);
    await expect(producer.cancel('acme', jobId)).rejects.toMatchObject(closed);
  });
});
