import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { MAX_BATCH_BYTES, UNSTATED_BATCH_LIMIT } from '../../clients/producer.js';
import type { EnqueueStreamRequest } from '../../src/generated/rota/v1/EnqueueStreamRequest.js';
import { callCounter, STREAM, useRota, waitFor, waitingJobs } from './fixture.js';

// The broker's receive limit is then 16 MiB, its batch limit below the Producer's default (500).
const rota = useRota({ maxBatchSize: 100 });

/** Just under the broker's default payload limit (1 MiB). */
const LARGE = 1024 * 1024 - 100;

/**
 * Spoils the request of the batch holding the job with payload 'poison' into
 * one the broker refuses by ending the stream, as a client bug, or a broker or
 * proxy of lower limits, would have it: the Producer keeps to this broker's.
 */
function poisoner(
  spoil: (request: EnqueueStreamRequest) => EnqueueStreamRequest,
): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      sendMessage: (message: EnqueueStreamRequest, next) => {
        const poisoned =
          options.method_definition.path === STREAM &&
          message.jobs?.some((job) => String(job.payload) === 'poison');
        next(poisoned ? spoil(message) : message);
      },
    });
}

describe('Producer batches', () => {
  it('splits coalesced enqueue() calls by bytes, so twenty 1 MiB jobs all get stored', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const payload = Buffer.alloc(LARGE, 7);
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        producer.enqueue({ tenant: 'acme', queue: 'files', payload }),
      ),
    );
    expect(new Set(results.map((r) => r.jobId)).size).toBe(20);
    expect(messages.get(STREAM)).toBe(Math.ceil(20 / Math.floor(MAX_BATCH_BYTES / LARGE)));
    expect((await producer.getJob('acme', results[19]!.jobId)).rawPayload.equals(payload)).toBe(
      true,
    );
  });

  it('splits enqueueBatch() by bytes too, with the results in the caller order', async () => {
    const producer = rota.producer();
    const results = await producer.enqueueBatch(
      Array.from({ length: 20 }, (_, i) => ({
        tenant: 'acme',
        queue: 'files',
        payload: Buffer.alloc(LARGE, i),
      })),
    );
    expect(results.flatMap((r) => ('error' in r ? [r.error.message] : []))).toEqual([]);
    const ids = results.map((r) => ('jobId' in r ? r.jobId : ''));
    for (const i of [0, 4, 19]) {
      const { rawPayload } = await producer.getJob('acme', ids[i]!);
      expect([rawPayload.length, rawPayload[0], rawPayload.at(-1)]).toEqual([LARGE, i, i]);
    }
  });

  it('sends a job past the broker receive limit on a call of its own: the jobs behind it are stored', async () => {
    const { calls, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const payload = Buffer.alloc(17 * 1024 * 1024);
    const huge = producer.enqueue({ tenant: 'acme', queue: 'files', payload });
    await new Promise((resolve) => setImmediate(resolve));
    const behind = producer.enqueue({ tenant: 'acme', queue: 'files', payload: 'x' });
    await expect(huge).rejects.toMatchObject({
      codeName: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(/^Received message larger than max/) as unknown,
    });
    expect((await producer.getJob('acme', (await behind).jobId)).payload).toBe('x');
    await producer.enqueue({ tenant: 'acme', queue: 'files', payload: 'y' });
    expect(calls.get(STREAM)).toBe(1); // the stream was never ended
  });

  // The key was not counted in the batch's bytes, so the job went with the
  // others: the message passed the broker's receive limit, the stream ended,
  // and every job on it failed with RESOURCE_EXHAUSTED.
  it('refuses before sending a job the broker would refuse for its names, key or headers: its neighbours are stored', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ interceptors: [interceptor] });
    const job = { tenant: 'acme', queue: 'bounded' };
    const neighbours = Array.from({ length: 5 }, (_, i) =>
      producer.enqueue({ ...job, payload: i }),
    );
    const refusals = [
      [
        { idempotencyKey: 'k'.repeat(17 * 1024 * 1024) },
        /^idempotencyKey is 17825792 characters; the limit is 256$/,
      ],
      [{ tenant: 't'.repeat(65) }, /^tenant is "t{65}"; it must match \[A-Za-z0-9_.-\]\{1,64\}$/],
      [{ queue: 'job' }, /^queue is "job", which Rota's own keys use/],
      [
        { headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, 'v'])) },
        /^headers has 65 entries; the limit is 64 \(content-type, traceparent, tracestate/,
      ],
      [
        { headers: { big: 'v'.repeat(8 * 1024) } },
        /^headers are 8195 bytes in all; the limit is 8192/,
      ],
    ] as const;
    const refused = refusals.map(([fields]) => producer.enqueue({ ...job, ...fields }));
    const after = Array.from({ length: 5 }, (_, i) =>
      producer.enqueue({ ...job, payload: 10 + i }),
    );
    expect(await Promise.allSettled(refused)).toEqual(
      refusals.map(([, message]) => ({
        status: 'rejected',
        reason: expect.objectContaining({
          codeName: 'INVALID_ARGUMENT',
          message: expect.stringMatching(message) as unknown,
        }) as unknown,
      })),
    );
    const stored = await Promise.all([...neighbours, ...after]);
    expect(new Set(stored.map((r) => r.jobId)).size).toBe(10);
    expect(messages.get(STREAM)).toBe(1);
  });

  it('resends a coalesced batch the broker refuses as over its limit, and keeps to that limit', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ maxBatch: 150, interceptors: [interceptor] });
    const round = (): Promise<unknown>[] =>
      Array.from({ length: 150 }, (_, i) =>
        producer.enqueue({ tenant: 'acme', queue: 'q', payload: i }),
      );
    const big = round();
    await new Promise((resolve) => setImmediate(resolve));
    // another caller's job on the same stream, while the 150 are refused
    const other = producer.enqueue({ tenant: 'globex', queue: 'q', payload: 'x' });
    const outcomes = await Promise.allSettled([...big, other]);
    const errors = outcomes.flatMap((o) =>
      o.status === 'rejected' ? [(o.reason as Error).message] : [],
    );
    expect([...new Set(errors)]).toEqual([]);
    const { jobId } = await other;
    expect((await producer.getJob('globex', jobId)).payload).toBe('x');
    const sent = messages.get(STREAM)!;

    await Promise.all(round());
    expect(messages.get(STREAM)! - sent).toBe(2); // 100 + 50, none refused
  });

  // Every batch unanswered when the stream ended failed with the refusal,
  // "do not send again", though the broker never read them.
  it.each([
    [
      'ends the stream naming it (over the sub-messages it decodes)',
      (request: EnqueueStreamRequest): EnqueueStreamRequest => ({
        ...request,
        jobs: [...request.jobs!, ...Array.from({ length: 100_000 }, () => ({}))],
      }),
      /^the request \(rota\.v1\.EnqueueStreamRequest\) holds more than 100000 messages/,
    ],
    [
      'refuses in gRPC, unseen (over its receive limit)',
      (request: EnqueueStreamRequest): EnqueueStreamRequest => ({
        ...request,
        jobs: request.jobs!.map((job) => ({ ...job, payload: Buffer.alloc(17 * 1024 * 1024) })),
      }),
      /^Received message larger than max \(\d+ vs 16777216\)$/,
    ],
  ])(
    'rejects only the batch a broker %s: the batches sent after it go again, each stored once',
    async (_name, spoil, refusal) => {
      const producer = rota.producer({ maxBatch: 1, interceptors: [poisoner(spoil)] });
      const queue = `poisoned-${Math.random()}`;
      const send = (payload: string): Promise<{ jobId: string }> =>
        producer.enqueue({ tenant: 'acme', queue, payload: Buffer.from(payload) });
      await send('first');
      // One batch each (maxBatch 1), all on the stream before the broker ends it.
      const poison = send('poison');
      const after = ['a', 'b', 'c'].map(send);
      await expect(poison).rejects.toMatchObject({
        codeName: 'RESOURCE_EXHAUSTED',
        message: expect.stringMatching(refusal) as unknown,
      });
      const stored = await Promise.all(after);
      for (const [i, { jobId }] of stored.entries()) {
        expect((await producer.getJob('acme', jobId)).rawPayload.toString()).toBe('abc'[i]);
      }
      expect(await waitingJobs(rota.address, queue)).toBe(4);
    },
  );

  it('keeps a batch sent before any limit is known within what every broker decodes, though maxBatch is larger', async () => {
    const producer = rota.producer({ maxBatch: 2000 });
    // 64 headers a job: 2,000 jobs in one request would be 132,000 sub-messages
    const headers = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`h${i}`, 'v']));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 2000 }, (_, i) =>
        producer.enqueue({ tenant: 'acme', queue: 'headed', payload: i, headers }),
      ),
    );
    const errors = outcomes.flatMap((o) =>
      o.status === 'rejected' ? [(o.reason as Error).message] : [],
    );
    expect([...new Set(errors)]).toEqual([]);
    expect(UNSTATED_BATCH_LIMIT * (2 + 64 + 3)).toBeLessThanOrEqual(100_000);
  });

  it('sizes batches to the limit the answers state, larger again on a new stream to a broker whose limit was raised', async () => {
    const { messages, interceptor } = callCounter();
    const producer = rota.producer({ maxBatch: 150, interceptors: [interceptor] });
    const round = (): Promise<unknown> =>
      Promise.all(
        Array.from({ length: 150 }, (_, i) =>
          producer.enqueue({ tenant: 'acme', queue: 'q', payload: i }),
        ),
      );
    await producer.enqueue({ tenant: 'acme', queue: 'q', payload: 'first' });
    let sent = messages.get(STREAM)!;
    await round();
    expect(messages.get(STREAM)! - sent).toBe(2); // 100 + 50, none refused: the first answer said 100

    await rota.crashAndRestartBroker(undefined, { maxBatchSize: 1000 });
    // The first enqueue that succeeds went on a stream to the restarted broker.
    await waitFor(() =>
      producer.enqueue({ tenant: 'acme', queue: 'q', payload: 'x' }).catch(() => undefined),
    );
    sent = messages.get(STREAM)!;
    await round();
    expect(messages.get(STREAM)! - sent).toBe(1); // the Producer's own maxBatch again
  });

  it('stores an enqueueBatch() over the broker limit whole, in the order given', async () => {
    const producer = rota.producer(); // maxBatch 500
    const jobs = Array.from({ length: 250 }, (_, i) => ({
      tenant: 'acme',
      queue: 'ordered',
      payload: { i },
    }));
    const results = await producer.enqueueBatch(jobs);
    expect([...new Set(results.flatMap((r) => ('error' in r ? [r.error.message] : [])))]).toEqual(
      [],
    );
    const seen: number[] = [];
    const worker = rota.worker({
      queues: ['ordered'],
      concurrency: 1,
      handler: (job) => {
        seen.push((job.payload as { i: number }).i);
      },
    });
    await worker.start();
    await waitFor(() => (seen.length === 250 ? true : undefined));
    expect(seen).toEqual(jobs.map((_, i) => i));
  });
});
