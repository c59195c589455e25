import { describe, expect, it } from 'vitest';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { useBroker } from '../helpers/harness.js';
import { RawWorker } from '../helpers/raw-worker.js';
import type { EnqueueRequest } from '../../src/generated/rota/v1/EnqueueRequest.js';

const h = useBroker({ maxPayloadBytes: 1024, maxBatchSize: 5 });

async function rejection(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError | undefined;
  if (!error) throw new Error('expected the call to fail');
  return { code: error.code, details: error.details };
}

const valid: EnqueueRequest = { tenant: 'acme', queue: 'email' };

/** `count` headers h0…, of a few bytes each. */
const headers = (count: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`h${i}`, 'v']));

const headerBytes = (entries: Record<string, string>): number =>
  Object.entries(entries).reduce((sum, [name, value]) => sum + name.length + value.length, 0);

describe('invalid input', () => {
  it.each<[string, EnqueueRequest, string]>([
    [
      'empty tenant',
      { ...valid, tenant: '' },
      'tenant is empty; it must match [A-Za-z0-9_.-]{1,64}',
    ],
    ['bad queue', { ...valid, queue: 'a b' }, 'queue is "a b"; it must match [A-Za-z0-9_.-]{1,64}'],
    [
      'reserved queue',
      { ...valid, queue: 'idem' },
      'queue is "idem", which Rota\'s own keys use; the names "job" and "idem" are reserved, pick another',
    ],
    [
      'long tenant',
      { ...valid, tenant: 'x'.repeat(65) },
      `tenant is "${'x'.repeat(65)}"; it must match [A-Za-z0-9_.-]{1,64}`,
    ],
    [
      'payload too large',
      { ...valid, payload: Buffer.alloc(1025) },
      'payload is 1025 bytes; the limit is 1024 (ROTA_MAX_PAYLOAD_BYTES). Store large data elsewhere and enqueue a reference',
    ],
    [
      'priority',
      { ...valid, priority: -1 },
      'priority is -1; it must be a whole number from 0 to 9',
    ],
    [
      'attempts',
      { ...valid, max_attempts: 1001 },
      'max_attempts is 1001; it must be a whole number from 1 to 1000',
    ],
    [
      'backoff order',
      { ...valid, backoff: { initial_ms: 5000, max_ms: 100 } },
      'backoff.initial_ms (5000) must not exceed backoff.max_ms (100)',
    ],
    [
      'delay',
      { ...valid, delay_ms: 366 * 86_400_000 },
      'delay_ms is 31622400000; it must be a whole number from 0 to 31536000000',
    ],
    [
      'timeout',
      { ...valid, timeout_ms: 8 * 86_400_000 },
      'timeout_ms is 691200000; it must be a whole number from 0 to 604800000',
    ],
    [
      'idempotency key',
      { ...valid, idempotency_key: 'k'.repeat(257) },
      'idempotency_key is 257 characters; the limit is 256',
    ],
    ['header name', { ...valid, headers: { '': 'x' } }, 'headers has an empty name'],
    [
      'header size',
      { ...valid, headers: { big: 'x'.repeat(9000) } },
      'headers are 9003 bytes in all; the limit is 8192 (content-type, traceparent, tracestate of up to 512 bytes not counted)',
    ],
    [
      'header count',
      { ...valid, headers: { ...headers(65), 'content-type': 'application/json' } },
      'headers has 65 entries; the limit is 64 (content-type, traceparent, tracestate of up to 512 bytes not counted)',
    ],
    [
      'protocol header too long to be exempt',
      { ...valid, headers: { ...headers(64), tracestate: 'x'.repeat(513) } },
      'headers has 65 entries; the limit is 64 (content-type, traceparent, tracestate of up to 512 bytes not counted)',
    ],
  ])('Enqueue answers INVALID_ARGUMENT for %s', async (_name, request, details) => {
    expect(await rejection(h.enqueue(request))).toEqual({ code: status.INVALID_ARGUMENT, details });
  });

  /** Sends bytes as they are, so a test can put on the wire what no client would encode. */
  async function rawEnqueue(bytes: Buffer): Promise<ServiceError | null> {
    const client = new Client(h.broker.address, credentials.createInsecure());
    try {
      return await new Promise<ServiceError | null>((resolve) => {
        client.makeUnaryRequest<Buffer, Buffer>(
          '/rota.v1.Broker/Enqueue',
          (raw) => raw,
          (raw) => raw,
          bytes,
          new Metadata(),
          (error) => resolve(error),
        );
      });
    } finally {
      client.close();
    }
  }

  it('answers bytes that are no EnqueueRequest with INVALID_ARGUMENT', async () => {
    const outcome = await rawEnqueue(Buffer.from([0x0a, 0x85])); // tenant length varint cut off
    expect(outcome?.code).toBe(status.INVALID_ARGUMENT);
    expect(outcome?.details).toMatch(
      /^the request does not decode as rota\.v1\.EnqueueRequest \(.+\); send a valid protobuf message$/,
    );
  });

  it('cuts a long echoed value between characters, never inside one', async () => {
    // Cut by UTF-16 units, this left half an emoji: a lone surrogate, on which
    // grpc-js threw while writing the status and took the broker down.
    const tenant = 'a' + '😀'.repeat(100);
    expect(await rejection(h.enqueue({ ...valid, tenant }))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: `tenant is "a${'😀'.repeat(79)}…"; it must match [A-Za-z0-9_.-]{1,64}`,
    });
    expect((await h.enqueue(valid)).job_id).toBeTruthy();
  });

  it("does not count the protocol's own headers against the limits", async () => {
    const protocol = {
      'content-type': 'application/json',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'v=' + 'x'.repeat(510),
    };
    const full = { ...headers(63), last: 'x'.repeat(8192 - headerBytes(headers(63)) - 4) };
    expect(Object.keys(full)).toHaveLength(64);
    expect(headerBytes(full)).toBe(8192);
    const { job_id } = await h.enqueue({ ...valid, headers: { ...full, ...protocol } });
    expect((await h.getJob('acme', job_id)).headers).toEqual({ ...full, ...protocol });
  });

  it('refuses an EnqueueBatch over the batch limit as a whole', async () => {
    const jobs = Array.from({ length: 6 }, () => valid);
    expect(await rejection(h.enqueueBatch(jobs))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'jobs has 6 items; the limit is 5 (ROTA_MAX_BATCH_SIZE). Split the batch',
    });
  });

  it('answers NOT_FOUND for a job that does not exist', async () => {
    const details =
      'job 0000000000000000 of tenant acme does not exist (wrong id or tenant, or it ended and its retention is over)';
    expect(await rejection(h.getJob('acme', '0000000000000000'))).toEqual({
      code: status.NOT_FOUND,
      details,
    });
    expect(await rejection(h.cancel('acme', '0000000000000000'))).toEqual({
      code: status.NOT_FOUND,
      details,
    });
  });

  it('takes a backoff max below the default initial delay alone, lowering the initial to it', async () => {
    const { job_id } = await h.enqueue({ ...valid, backoff: { initial_ms: 0, max_ms: 100 } });
    const job = await h.getJob('acme', job_id);
    expect(job.backoff).toEqual({ initial_ms: 100, max_ms: 100 });
  });

  it('does not show a job to another tenant', async () => {
    const { job_id } = await h.enqueue(valid);
    expect((await rejection(h.getJob('globex', job_id))).code).toBe(status.NOT_FOUND);
  });

  it('refuses a malformed job id', async () => {
    expect(await rejection(h.getJob('acme', '../etc'))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'job_id "../etc" is malformed; use the id Enqueue returned',
    });
  });

  it('checks dead letter requests', async () => {
    expect(
      await rejection(h.listDead({ tenant: 'acme', queue: 'email', page_size: 5000 })),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'page_size is 5000; it must be from 1 to 1000',
    });
    expect(
      await rejection(h.listDead({ tenant: 'acme', queue: 'email', page_token: 'zzz' })),
    ).toEqual({
      code: status.INVALID_ARGUMENT,
      details: 'page_token "zzz" is not one this broker returned',
    });
    for (const token of ['1e300', '0x10', '-1', '1.5', '9'.repeat(16)]) {
      expect(
        await rejection(h.listDead({ tenant: 'acme', queue: 'email', page_token: token })),
      ).toEqual({
        code: status.INVALID_ARGUMENT,
        details: `page_token "${token}" is not one this broker returned`,
      });
    }
    expect(await rejection(h.replay({ tenant: 'acme', queue: 'email' }))).toEqual({
      code: status.INVALID_ARGUMENT,
      details:
        'name the job_ids to replay, or set all = true to replay the whole dead letter queue',
    });
  });

  it('refuses a waiting-jobs page token whose entry id Redis could not have answered', async () => {
    await h.enqueue({ tenant: 'acme', queue: 'listed' });
    const max = '18446744073709551615';
    // each a stream id XRANGE refuses: a half past 64 bits, or a start after the last id
    for (const token of [`0:${'9'.repeat(20)}-0`, `0:1-${'9'.repeat(20)}`, `0:${max}-${max}`]) {
      expect(
        await rejection(
          h.listJobs({ tenant: 'acme', queue: 'listed', state: 'WAITING', page_token: token }),
        ),
      ).toEqual({
        code: status.INVALID_ARGUMENT,
        details: `page_token "${token}" is not one this broker returned`,
      });
    }
    const page = await h.listJobs({
      tenant: 'acme',
      queue: 'listed',
      state: 'WAITING',
      page_token: `0:${max}-${BigInt(max) - 1n}`,
    });
    expect(page.jobs).toEqual([]);
  });

  it('refuses the reserved queue names wherever a queue is named', async () => {
    const details = (field: string, name: string) =>
      `${field} is "${name}", which Rota's own keys use; the names "job" and "idem" are reserved, pick another`;
    const refusals = [
      [() => h.listDead({ tenant: 'acme', queue: 'job' }), 'queue', 'job'],
      [() => h.replay({ tenant: 'acme', queue: 'idem', all: true }), 'queue', 'idem'],
      [() => h.stats({ queue: 'idem' }), 'queue', 'idem'],
      [
        () => h.setTenant({ tenant: 'acme', queues: [{ queue: 'job' }] }),
        'tenant.queues[].queue',
        'job',
      ],
    ] as const;
    for (const [call, field, name] of refusals) {
      expect(await rejection(call())).toEqual({
        code: status.INVALID_ARGUMENT,
        details: details(field, name),
      });
    }
    const { results } = await h.enqueueBatch([valid, { ...valid, queue: 'job' }]);
    expect(results[0]!.code).toBe(status.OK);
    expect(results[1]).toMatchObject({
      job_id: '',
      code: status.INVALID_ARGUMENT,
      error: details('queue', 'job'),
    });
    const worker = RawWorker.open(h.broker.address, {
      worker_id: 'w',
      queues: ['email', 'job'],
      capacity: 1,
    });
    expect(await worker.waitStatus()).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: details('hello.queues[]', 'job'),
    });
  });

  it('stores nothing for a refused job', async () => {
    const worker = await h.worker({ queues: ['refused'] });
    await rejection(h.enqueue({ tenant: 'acme', queue: 'refused', priority: 99 }));
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'refused' });
    const [lease] = await worker.take(1);
    expect(lease!.job_id).toBe(job_id);
  });
});
