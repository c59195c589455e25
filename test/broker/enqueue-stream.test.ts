import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';

import type { Broker } from '../../src/broker/broker.js';
import type { EnqueueRequest } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueStreamRequest } from '../../src/generated/rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse__Output } from '../../src/generated/rota/v1/EnqueueStreamResponse.js';
import { MAX_UNANSWERED_REQUESTS } from '../../src/grpc/enqueue.js';
import { loadRotaPackageDefinition } from '../../src/grpc/proto.js';
import { DRAINED_TRAILER } from '../../src/grpc/stream-drain.js';
import {
  REFUSED_REQUEST_ID_TRAILER,
  REFUSED_REQUEST_TRAILER,
} from '../../src/grpc/stream-refusal.js';
import { shutdownWhileStoring } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';

const h = useBroker({ maxBatchSize: 5 });

interface MethodDefinition {
  path: string;
  requestSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** A raw EnqueueStream: what it received, and its status once it ends. */
class RawEnqueueStream {
  readonly responses: EnqueueStreamResponse__Output[] = [];
  readonly status: Promise<grpc.StatusObject>;
  readonly #call: grpc.ClientDuplexStream<
    EnqueueStreamRequest | Buffer,
    EnqueueStreamResponse__Output
  >;
  readonly #client: grpc.Client;

  constructor(address: string) {
    const method = (
      loadRotaPackageDefinition()['rota.v1.Broker'] as unknown as Record<string, MethodDefinition>
    ).EnqueueStream!;
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure());
    this.#call = this.#client.makeBidiStreamRequest(
      method.path,
      (value: EnqueueStreamRequest | Buffer) =>
        Buffer.isBuffer(value) ? value : method.requestSerialize(value),
      (bytes) => method.responseDeserialize(bytes) as EnqueueStreamResponse__Output,
    );
    this.#call.on('data', (response: EnqueueStreamResponse__Output) =>
      this.responses.push(response),
    );
    this.#call.on('error', () => undefined);
    this.status = new Promise((resolve) => this.#call.on('status', resolve));
    streams.push(this);
  }

  send(request: EnqueueStreamRequest | Buffer): void {
    this.#call.write(request);
  }

  async answer(requestId: string): Promise<EnqueueStreamResponse__Output> {
    await expect.poll(() => this.responses.some((r) => r.request_id === requestId)).toBe(true);
    return this.responses.find((r) => r.request_id === requestId)!;
  }

  end(): void {
    this.#call.end();
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

const streams: RawEnqueueStream[] = [];
afterEach(() => {
  for (const stream of streams.splice(0)) stream.close();
});

const job = (tenant: string, payload = ''): EnqueueRequest => ({
  tenant,
  queue: 'stream',
  payload: Buffer.from(payload),
});

describe('EnqueueStream', () => {
  it('answers each request by id with one result per job, and ends OK after the client does', async () => {
    const stream = new RawEnqueueStream(h.broker.address);
    stream.send({ request_id: '7', jobs: [job('acme', 'a'), job('bad tenant'), job('globex')] });
    stream.send({ request_id: '8', jobs: [job('acme', 'b')] });
    const first = await stream.answer('7');
    expect(first.max_batch_size).toBe(5); // every answer states the batch limit
    expect(first.results.map((r) => r.code)).toEqual([
      grpc.status.OK,
      grpc.status.INVALID_ARGUMENT,
      grpc.status.OK,
    ]);
    expect(first.results[1]!.error).toBe(
      'tenant is "bad tenant"; it must match [A-Za-z0-9_.-]{1,64}',
    );
    const second = await stream.answer('8');
    expect(second.results).toHaveLength(1);
    const stored = await h.getJob('acme', second.results[0]!.job_id);
    expect(stored.payload.toString()).toBe('b');
    expect(stored.state).toBe('WAITING');

    stream.end();
    expect((await stream.status).code).toBe(grpc.status.OK);
  });

  it('answers a request over the batch limit in every item, stores none of it, and keeps the stream open', async () => {
    const stream = new RawEnqueueStream(h.broker.address);
    const key = `over-${Math.random()}`;
    stream.send({ request_id: '1', jobs: [job('acme', 'before')] });
    stream.send({
      request_id: '2',
      jobs: Array.from({ length: 6 }, (_, i) => ({
        ...job('acme'),
        idempotency_key: `${key}${i}`,
      })),
    });
    stream.send({ request_id: '3', jobs: [job('globex', 'after')] });
    const refused = await stream.answer('2');
    expect(refused.max_batch_size).toBe(5);
    expect(refused.results).toHaveLength(6);
    for (const result of refused.results) {
      expect(result).toMatchObject({
        job_id: '',
        code: grpc.status.INVALID_ARGUMENT,
        error: 'jobs has 6 items; the limit is 5 (ROTA_MAX_BATCH_SIZE). Split the batch',
      });
    }
    const before = (await stream.answer('1')).results[0]!;
    const after = (await stream.answer('3')).results[0]!;
    expect((await h.getJob('acme', before.job_id)).payload.toString()).toBe('before');
    expect((await h.getJob('globex', after.job_id)).payload.toString()).toBe('after');
    expect((await h.enqueue({ ...job('acme'), idempotency_key: `${key}0` })).duplicate).toBe(false);

    stream.end();
    expect((await stream.status).code).toBe(grpc.status.OK);
  });

  // The end used to carry the refusal's status alone, which a client took for
  // the fate of every request it had no answer for: "do not send again" for
  // requests the broker never read.
  it.each([
    [
      'a request so far over the batch limit that its answer would pass 4 MiB',
      { request_id: '2', jobs: Array.from({ length: 60_000 }, () => ({})) },
      grpc.status.INVALID_ARGUMENT,
      'jobs has 60000 items; the limit is 5 (ROTA_MAX_BATCH_SIZE). Split the batch',
      ['2'],
    ],
    [
      'a request over the sub-messages the broker decodes',
      { request_id: '2', jobs: Array.from({ length: 100_001 }, () => ({})) },
      grpc.status.RESOURCE_EXHAUSTED,
      /^the request \(rota\.v1\.EnqueueStreamRequest\) holds more than 100000 messages/,
      [], // left undecoded: its request_id unread
    ],
    [
      'bytes that do not decode',
      Buffer.from([0x12, 0x85]), // a job whose length varint is cut off
      grpc.status.INVALID_ARGUMENT,
      /^the request does not decode as rota\.v1\.EnqueueStreamRequest/,
      [],
    ],
  ])(
    'ends the stream for %s, once the requests read before it are answered, naming it as refused and the rest as not read',
    async (_name, refused, code, details, refusedId) => {
      const queue = `refused-${Math.random()}`;
      const good = (tenant: string, payload: string): EnqueueRequest => ({
        ...job(tenant, payload),
        queue,
        idempotency_key: `${queue}-${payload}`,
      });
      const stream = new RawEnqueueStream(h.broker.address);
      stream.send({ request_id: '1', jobs: [good('acme', 'x'), good('globex', 'y')] });
      stream.send(refused);
      stream.send({ request_id: '3', jobs: [good('acme', 'z')] });
      const status = await stream.status;
      expect(status.code).toBe(code);
      expect(status.details).toMatch(details);
      expect(status.metadata.get(REFUSED_REQUEST_TRAILER)).toEqual(['2']);
      expect(status.metadata.get(REFUSED_REQUEST_ID_TRAILER)).toEqual(refusedId);
      expect(stream.responses.map((r) => r.request_id)).toEqual(['1']);
      const [x, y] = stream.responses[0]!.results;
      expect((await h.getJob('acme', x!.job_id)).payload.toString()).toBe('x');
      expect((await h.getJob('globex', y!.job_id)).payload.toString()).toBe('y');

      // Request 3 was not read: sent again on a new stream, it is stored now, once.
      const again = new RawEnqueueStream(h.broker.address);
      again.send({ request_id: '3', jobs: [good('acme', 'z')] });
      const [z] = (await again.answer('3')).results;
      expect(z).toMatchObject({ code: grpc.status.OK, duplicate: false });
      again.end();
      expect((await again.status).code).toBe(grpc.status.OK);
      const { entries } = await h.stats({ queue });
      expect(entries.map((e) => [e.tenant, Number(e.waiting)]).sort()).toEqual([
        ['acme', 2],
        ['globex', 1],
      ]);
    },
  );

  // Without the bound a producer faster than Redis queued every request it
  // wrote in the broker's memory, its jobs waiting there for a store.
  it('stops reading at MAX_UNANSWERED_REQUESTS while stores are slow, and reads on, losing nothing, as answers go out', async () => {
    const broker = h.broker.broker as { enqueue: Broker['enqueue'] };
    const store = broker.enqueue;
    let storing = 0;
    let mostStoring = 0;
    broker.enqueue = async (inputs) => {
      mostStoring = Math.max(mostStoring, ++storing);
      try {
        return await store(inputs);
      } finally {
        storing--;
      }
    };
    onTestFinished(() => {
      broker.enqueue = store;
    });
    // The enqueue script writes, so it waits in Redis until UNPAUSE; the
    // pause's own timeout only frees Redis should the test fail before that.
    const admin = new Redis(h.redis.url);
    onTestFinished(async () => {
      await admin.call('CLIENT', 'UNPAUSE');
      admin.disconnect();
    });
    await admin.call('CLIENT', 'PAUSE', '8000', 'WRITE');

    const queue = `bound-${Math.random()}`;
    const requests = 200;
    const stream = new RawEnqueueStream(h.broker.address);
    for (let i = 0; i < requests; i++) {
      stream.send({
        request_id: String(i),
        jobs: ['acme', 'globex', 'acme'].map((tenant, k) => ({
          ...job(tenant, `${i}.${k}`),
          queue,
        })),
      });
    }
    // Half-closed at once: the end waits behind the requests not read yet.
    stream.end();

    await expect.poll(() => storing).toBe(MAX_UNANSWERED_REQUESTS);
    // All 200 requests are a few KiB, in the broker's socket long before this:
    // a broker that read past the bound would be storing more of them by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(storing).toBe(MAX_UNANSWERED_REQUESTS);
    expect(stream.responses).toEqual([]);

    await admin.call('CLIENT', 'UNPAUSE');
    await expect.poll(() => stream.responses.length, { timeout: 8000 }).toBe(requests);
    expect(mostStoring).toBe(MAX_UNANSWERED_REQUESTS);
    expect(stream.responses.map((r) => Number(r.request_id)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: requests }, (_, i) => i),
    );
    const jobIds = new Set<string>();
    for (const response of stream.responses) {
      expect(response.results).toHaveLength(3);
      for (const result of response.results) {
        expect(result).toMatchObject({ code: grpc.status.OK, duplicate: false, error: '' });
        jobIds.add(result.job_id);
      }
    }
    expect(jobIds.size).toBe(requests * 3);
    expect(jobIds.has('')).toBe(false);
    expect((await stream.status).code).toBe(grpc.status.OK);
    const { entries } = await h.stats({ queue });
    expect(entries.map((e) => [e.tenant, Number(e.waiting)]).sort()).toEqual([
      ['acme', requests * 2],
      ['globex', requests],
    ]);
  });

  it('answers UNAVAILABLE per item while Redis is down, and stores again on the same stream after', async () => {
    const stream = new RawEnqueueStream(h.broker.address);
    stream.send({ request_id: '1', jobs: [job('acme')] });
    expect((await stream.answer('1')).results[0]!.code).toBe(grpc.status.OK);

    await h.redis.kill();
    stream.send({ request_id: '2', jobs: [job('acme'), job('globex')] });
    const refused = await stream.answer('2');
    for (const result of refused.results) {
      expect(result.code).toBe(grpc.status.UNAVAILABLE);
      expect(result.error).toMatch(/^Redis is unreachable \(.*\); retry later$/);
    }
    await h.redis.restart();

    await expect
      .poll(
        async () => {
          const id = String(100 + stream.responses.length);
          stream.send({ request_id: id, jobs: [job('acme', 'after')] });
          return (await stream.answer(id)).results[0]!.code;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe(grpc.status.OK);
  });

  it('is drained by a graceful shutdown: answers what it read, reads nothing more, and ends UNAVAILABLE saying so', async () => {
    const stream = new RawEnqueueStream(h.broker.address);
    // The shutdown starts once the broker has read request 1, while it stores it.
    const stopped = shutdownWhileStoring(h.broker, 1000);
    const key = `unread-${Math.random()}`;
    stream.send({ request_id: '1', jobs: [job('acme', 'read')] });
    stream.send({ request_id: '2', jobs: [{ ...job('acme', 'unread'), idempotency_key: key }] });

    // A client that knows no drain gets an error for request 2, never silence.
    const status = await stream.status;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toMatch(/requests it did not answer were not read/);
    expect(status.metadata.get(DRAINED_TRAILER)).toEqual(['unanswered-requests-not-read']);
    expect(stream.responses.map((r) => r.request_id)).toEqual(['1']);
    expect(stream.responses[0]!.results[0]!.code).toBe(grpc.status.OK);
    await stopped;

    await h.restartBroker();
    const stored = await h.getJob('acme', stream.responses[0]!.results[0]!.job_id);
    expect(stored.payload.toString()).toBe('read');
    const again = await h.enqueue({ ...job('acme'), idempotency_key: key });
    expect(again.duplicate).toBe(false);
  });
});
