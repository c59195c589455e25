/**
 * Limits against hostile or broken clients: oversized messages, too many
 * sessions, a stream that never says Hello, a worker that never reads its
 * stream, and bursts of large leases. (First message not Hello, Hello twice
 * and acks for unknown jobs are covered in test/broker/leases.test.ts.)
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { Worker } from '../../clients/index.js';
import type { WorkerMessage } from '../../src/generated/rota/v1/WorkerMessage.js';
import { loadRotaProto } from '../../src/grpc/proto.js';
import {
  BACKLOG_HIGH_WATER_BYTES,
  LEASE_MESSAGE_BYTES,
  MAX_UNREAD_REPLY_BYTES,
} from '../../src/grpc/work-stream.js';
import { eventually } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { rawClient, rawUnary } from '../fuzz/fixture.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('message size', () => {
  const h = useBroker();

  it('answers RESOURCE_EXHAUSTED to a message over the limit and keeps serving', async () => {
    // The limit is max(16 MiB, 2 × max payload + 64 KiB) = 16 MiB here.
    const huge = Buffer.alloc(17 * MiB, 1);
    const refused = await h
      .enqueue({ tenant: 'acme', queue: 'big', payload: huge })
      .then(() => undefined, (error: grpc.ServiceError) => error);
    expect(refused?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(refused?.details).toMatch(/^Received message larger than max \(\d+ vs 16777216\)$/);
    const w = await h.worker({ queues: ['big'] });
    w.send({ complete: { job_id: 'x', lease_token: 'y', result: huge } });
    expect(await w.waitStatus()).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });

    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'after', payload: Buffer.from('ok') });
    const next = await h.worker({ queues: ['after'] });
    const [lease] = await next.take(1);
    expect(lease!.job_id).toBe(job_id);
  }); // prettier-ignore

  it('refuses a request of more messages or fields than it decodes, before decoding it', async () => {
    // Two bytes make an empty job, ack or header entry, and each decoded one
    // costs about 2 µs and 400 bytes: a 16 MiB EnqueueBatch of empty jobs
    // held the event loop for some 17 s and took gigabytes (found by fuzzing).
    const repeated = (tag: number, count: number): Buffer => {
      const bytes = Buffer.alloc(2 * count);
      for (let i = 0; i < count; i++) bytes[2 * i] = tag;
      return bytes;
    };
    const client = rawClient(h.broker.address);
    try {
      const emptyJobs = repeated(0x0a, 100_001); // EnqueueBatchRequest.jobs
      const refusedBatch = await rawUnary(
        client,
        '/rota.v1.Broker/EnqueueBatch',
        emptyJobs,
        10_000,
      );
      expect(refusedBatch.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(refusedBatch.details).toBe(
        'the request (rota.v1.EnqueueBatchRequest) holds more than 100000 messages (jobs, header entries, leases, acks…), the most the broker decodes in one request: split it into smaller requests',
      );
      // A scalar field repeated (each repeat replaces the last) counts too.
      const tenants = repeated(0x0a, 1_000_001); // GetJobRequest.tenant, empty
      const refusedGet = await rawUnary(client, '/rota.v1.Broker/GetJob', tenants, 10_000);
      expect(refusedGet.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(refusedGet.details).toMatch(
        /^the request \(rota\.v1\.GetJobRequest\) holds more than 1000000 fields,/,
      );
    } finally {
      client.close();
    }
    const w = await h.worker({ queues: ['many-acks'] });
    const completes = Array.from({ length: 100_001 }, () => ({}));
    w.send({ acks: { completed: completes } });
    const ended = await w.waitStatus();
    expect(ended.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(ended.details).toMatch(
      /^the request \(rota\.v1\.WorkerMessage\) holds more than 100000 messages/,
    );
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'after-many' });
    expect((await h.getJob('acme', job_id)).state).toBe('WAITING');

    // The largest batch a producer sends on purpose is within the bounds:
    // 1,000 jobs (ROTA_MAX_BATCH_SIZE) of a backoff and 64 headers each.
    const headers = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`h${i}`, 'v']));
    const full = Array.from({ length: 1000 }, () => ({
      tenant: 'acme',
      queue: 'full-batch',
      backoff: { initial_ms: 10, max_ms: 100 },
      headers,
    }));
    const { results } = await h.enqueueBatch(full);
    expect(results.filter((r) => r.code !== 0)).toEqual([]);
  });
});

describe('sessions', () => {
  const h = useBroker({ maxSessions: 2 });

  it('answers RESOURCE_EXHAUSTED to a Hello beyond ROTA_MAX_SESSIONS', async () => {
    const first = await h.worker({ queues: ['s'] });
    await h.worker({ queues: ['s'] });
    const third = RawWorker.open(h.broker.address, {
      worker_id: 'third',
      queues: ['s'],
      capacity: 1,
    });
    expect(await third.waitStatus()).toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details:
        'this broker already has 2 worker sessions, its limit (ROTA_MAX_SESSIONS); retry later or connect to another broker',
    });
    third.drop();
    first.drop();
    await eventually(() => (h.broker.broker.leases.sessionCount === 1 ? true : undefined));
    const again = await h.worker({ queues: ['s'] });
    expect((await again.welcome()).session_id).not.toBe('');
  });

  it('ends a stream that sends no Hello within the lease TTL', async () => {
    const silent = RawWorker.open(h.broker.address);
    const opened = Date.now();
    expect(await silent.waitStatus()).toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: 'no Hello within 1500 ms of opening the Work stream; send Hello first',
    });
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1400);
    silent.drop();
  });
});

/**
 * A Work stream over a bare HTTP/2 client that never reads what the broker
 * sends (grpc-js clients always drain the socket into memory): the broker's
 * writes back up once the flow-control windows are full.
 */
function deafWorker(address: string): {
  send(message: WorkerMessage): void;
  /** Starts reading (and throwing away) what arrives. */
  read(): void;
  close(): void;
} {
  const method = loadRotaProto().rota.v1.Broker.service.Work;
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  const stream = session.request({
    ':method': 'POST',
    ':path': method.path,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => undefined);
  return {
    send(message) {
      const body = method.requestSerialize(message);
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(body.length, 1);
      stream.write(Buffer.concat([prefix, body]));
    },
    read: () => void stream.resume(),
    close() {
      stream.close();
      session.destroy();
    },
  };
}

describe('a worker that does not read its stream', () => {
  const h = useBroker();

  it('gets no new leases while its stream is backed up, and the rest once it reads', async () => {
    const payload = Buffer.alloc(64 * 1024, 1);
    const total = 400;
    const batch = 25;
    // Capacity for every job; heartbeats keep the session alive; nothing is read.
    const deaf = deafWorker(h.broker.address);
    deaf.send({ hello: { worker_id: 'deaf', queues: ['slow'], capacity: 1000 } });
    const beats = setInterval(() => deaf.send({ heartbeat: {} }), 200);
    const held = (): number => h.broker.broker.leases.heldByWorkers;
    try {
      await eventually(() => (h.broker.broker.leases.sessionCount === 1 ? true : undefined));
      // Work arrives a batch at a time (each batch is 1.6 MB of leases).
      for (let i = 0; i < total; i += batch) {
        const jobs = Array.from({ length: batch }, () => ({ tenant: 'bulk', queue: 'slow', payload }));
        const { results } = await h.enqueueBatch(jobs);
        expect(results.every((r) => r.code === 0)).toBe(true);
        await sleep(100);
      }
      await sleep(500);
      // Leases stop once about BACKLOG_HIGH_WATER_BYTES are unread (plus what
      // the HTTP/2 flow-control windows hold and the batch in flight when the
      // backlog crossed the mark): far below the capacity and the backlog.
      const bound =
        Math.ceil((BACKLOG_HIGH_WATER_BYTES + LEASE_MESSAGE_BYTES) / payload.length) + batch;
      const stalled = held();
      expect(stalled).toBeGreaterThan(0);
      expect(stalled).toBeLessThanOrEqual(bound);
      expect(stalled).toBeLessThan(total / 2);
      await sleep(500);
      expect(held()).toBe(stalled);

      deaf.read();
      await eventually(() => (held() === total ? true : undefined));
    } finally {
      clearInterval(beats);
      deaf.close();
    }
  }); // prettier-ignore
});

describe('a worker that sends and never reads', () => {
  const h = useBroker();

  it('has its stream ended once the replies it leaves unread pass MAX_UNREAD_REPLY_BYTES', async () => {
    const deaf = deafWorker(h.broker.address);
    deaf.send({ hello: { worker_id: 'flood', queues: ['flood'], capacity: 1 } });
    // Keeps the session alive throughout: only the unread replies may end it.
    const beats = setInterval(() => deaf.send({ heartbeat: {} }), 200);
    try {
      await eventually(() => (h.broker.broker.leases.sessionCount === 1 ? true : undefined));
      // Each heartbeat is answered with a HeartbeatAck the worker never reads,
      // counted as 128 bytes; the HTTP/2 windows take the first few thousand.
      // Sent in rounds, so the test's own socket writes never pile up.
      const acksPastLimit = Math.ceil(MAX_UNREAD_REPLY_BYTES / 128) + 50_000;
      for (let sent = 0; sent < acksPastLimit; sent += 5000) {
        for (let i = 0; i < 5000; i++) deaf.send({ heartbeat: {} });
        await sleep(20);
      }
      await eventually(() => (h.broker.broker.leases.sessionCount === 0 ? true : undefined), {
        timeoutMs: 15_000,
      });
    } finally {
      clearInterval(beats);
      deaf.close();
    }
  }, 30_000);
});

describe('large jobs, counted in bytes', () => {
  const h = useBroker();

  it('grants a worker that does not read about a backlog of bytes, even when all is buffered', async () => {
    const payload = Buffer.alloc(256 * 1024, 2);
    const total = 120; // 30 MiB, all runnable before the worker comes
    for (let i = 0; i < total; i += 20) {
      await h.enqueueBatch(Array.from({ length: 20 }, () => ({ tenant: 'wide', queue: 'wide', payload })));
    }
    const deaf = deafWorker(h.broker.address);
    deaf.send({ hello: { worker_id: 'deaf', queues: ['wide'], capacity: 1000 } });
    const beats = setInterval(() => deaf.send({ heartbeat: {} }), 200);
    const held = (): number => h.broker.broker.leases.heldByWorkers;
    try {
      await eventually(() => (held() > 0 ? true : undefined));
      await sleep(1000);
      // A dispatch round stops at the bytes the stream still takes: one job past the mark.
      const bound = Math.ceil((BACKLOG_HIGH_WATER_BYTES + LEASE_MESSAGE_BYTES) / payload.length) + 1;
      expect(held()).toBeLessThanOrEqual(bound);
      deaf.read();
      await eventually(() => (held() === total ? true : undefined));
    } finally {
      clearInterval(beats);
      deaf.close();
    }
  });

  it('buffers at most 64 MiB of a queue ahead of demand', async () => {
    const payload = Buffer.alloc(MiB, 3);
    const total = 100;
    for (let i = 0; i < total; i += 10) {
      await h.enqueueBatch(Array.from({ length: 10 }, () => ({ tenant: 'big', queue: 'prefetch', payload })));
    }
    // One slot, held: the dispatcher keeps refilling its buffer ahead of demand.
    const w = await h.worker({ queues: ['prefetch'], capacity: 1 });
    await w.take(1);
    const buffered = (): number => [...h.broker.broker.dispatcher('prefetch').bufferedJobs()].length;
    await eventually(() => (buffered() > 4 ? true : undefined));
    await sleep(300);
    expect(buffered()).toBeGreaterThan(4);
    expect(buffered()).toBeLessThanOrEqual(64);
  });
}); // prettier-ignore

describe('large payloads', () => {
  const h = useBroker();

  it('splits a burst of large leases into messages under the gRPC limits', async () => {
    // 24 jobs of ~1 MB: one LeaseBatch would exceed the broker's 16 MiB send
    // limit and the client's default 4 MiB receive limit.
    const payload = Buffer.alloc(1_000_000, 7);
    for (let i = 0; i < 24; i += 4) {
      await h.enqueueBatch(Array.from({ length: 4 }, () => ({ tenant: 'big', queue: 'big', payload })));
    }
    const w = await h.worker({ queues: ['big'], capacity: 24 });
    const leases = await w.take(24);
    expect(new Set(leases.map((l) => l.job_id)).size).toBe(24);
    expect(leases.every((l) => l.payload.length === payload.length)).toBe(true);
    const perMessage = w.messages.filter((m) => m.leases).map((m) => m.leases!.leases.length);
    expect(Math.max(...perMessage)).toBe(1);
    expect(w.ended).toBe(false);
  }); // prettier-ignore

  it('still sends small leases many to a message', async () => {
    await h.enqueueBatch(Array.from({ length: 50 }, () => ({ tenant: 'small', queue: 'small' })));
    await sleep(50);
    const w = await h.worker({ queues: ['small'], capacity: 50 });
    await w.take(50);
    const perMessage = w.messages.filter((m) => m.leases).map((m) => m.leases!.leases.length);
    expect(Math.max(...perMessage)).toBeGreaterThan(1);
  });
});

describe('leases larger than the replies a worker may leave unread', () => {
  // ROTA_MAX_PAYLOAD_BYTES may be up to 512 MiB: here past MAX_UNREAD_REPLY_BYTES.
  const h = useBroker({ maxPayloadBytes: 32 * MiB });

  /** Enqueues the payloads, then runs a Worker until it has seen them all. */
  async function deliver(queue: string, sizes: number[]): Promise<{ seen: number[]; errors: string[] }> {
    for (const size of sizes) {
      await h.enqueue({ tenant: 'acme', queue, payload: Buffer.alloc(size, 7), max_attempts: 1 });
    }
    const seen: number[] = [];
    const errors: string[] = [];
    const worker = new Worker({
      address: h.broker.address,
      queues: [queue],
      handler: (job) => void seen.push((job.payload as Buffer).length),
      shutdownSignals: [],
      shutdownGraceMs: 100,
    });
    worker.on('error', (error: Error) => errors.push(error.message));
    await worker.start();
    try {
      await eventually(() => (seen.length === sizes.length ? true : undefined), { timeoutMs: 20_000 });
    } finally {
      await worker.close();
    }
    return { seen: seen.sort((a, b) => a - b), errors };
  }

  it('delivers one over the limit to a worker that reads', async () => {
    expect(await deliver('huge', [17 * MiB])).toEqual({ seen: [17 * MiB], errors: [] });
  }, 30_000);

  it('delivers one that a dispatch round grants past the high-water mark', async () => {
    // The round grants the first job, has bytes left under the mark, and
    // grants the second: 17 MB on the stream at once.
    const sizes = [3_900_000, 13 * MiB];
    expect(await deliver('behind', sizes)).toEqual({ seen: sizes, errors: [] });
  }, 30_000);

  it('keeps the session of a worker that leaves more than that of leases unread', async () => {
    // Each over the limit alone. A direct dispatch may lease a few before
    // their sizes are known; then the high-water mark holds the rest back.
    const total = 3;
    for (let i = 0; i < total; i++) {
      await h.enqueue({ tenant: 'acme', queue: 'unread', payload: Buffer.alloc(17 * MiB, 8) });
    }
    const deaf = deafWorker(h.broker.address);
    deaf.send({ hello: { worker_id: 'deaf', queues: ['unread'], capacity: total } });
    const beats = setInterval(() => deaf.send({ heartbeat: {} }), 200);
    const held = (): number => h.broker.broker.leases.heldByWorkers;
    try {
      await eventually(() => (held() > 0 ? true : undefined));
      await sleep(500);
      const stalled = held();
      expect(stalled).toBeLessThan(total);
      await sleep(500);
      expect(held()).toBe(stalled);
      expect(h.broker.broker.leases.sessionCount).toBe(1);
      deaf.read();
      await eventually(() => (held() === total ? true : undefined));
    } finally {
      clearInterval(beats);
      deaf.close();
    }
  }, 30_000);
}); // prettier-ignore
