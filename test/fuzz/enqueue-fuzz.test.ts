/**
 * Fuzz of the producer RPCs: thousands of random and malformed Enqueue,
 * EnqueueBatch, EnqueueStream (enqueue-stream-gen.ts), GetJob, CancelJob and
 * Admin (SetTenant, GetTenant, ListTenants, GetStats, listings, dead letter
 * replays and deletions, purges) requests, built byte by byte
 * (random strings incl. unicode, huge and empty ones, negative and oversized
 * numbers, NaN and infinite doubles, huge maps, raw garbage that is no
 * protobuf), sent to a broker process with a deadline each.
 *
 * Holds: every call gets a status (never the deadline), among OK,
 * INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, RESOURCE_EXHAUSTED (garbage
 * gets INVALID_ARGUMENT saying it does not decode; a stream we cancelled,
 * CANCELLED); each EnqueueStream answer fits a request sent, and a stream that
 * ends OK answered them all; the broker
 * process stays up and still answers a health probe; a well-behaved producer
 * and worker running alongside complete every job.
 *
 * Seeded: the seed is printed; replay with ROTA_FUZZ_SEED=<seed>. Request #i is
 * generated from `new Rng(seed + i)` alone.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { Producer } from '../../clients/producer.js';
import { loadRotaPackageDefinition } from '../../src/grpc/proto.js';
import { finish, useCluster } from '../faults/fixture.js';
import { producerRequest } from './enqueue-gen.js';
import { fuzzEnqueueStream } from './enqueue-stream-gen.js';
import {
  brokerErrors,
  codeName,
  EXPECTED_CODES,
  GOOD_QUEUE,
  GOOD_TENANTS,
  goodJobCount,
  UNDECODABLE,
  rawClient,
  rawUnary,
  runPool,
} from './fixture.js';
import { fuzzSeed, Rng } from './prng.js';

const MAX_REQUESTS = Number(process.env.ROTA_FUZZ_REQUESTS ?? 4000);
const BUDGET_MS = Number(process.env.ROTA_FUZZ_BUDGET_MS ?? 7000);
const CALL_DEADLINE_MS = 5000;
/**
 * More time per MiB of request: under this load a big request takes a while
 * to arrive and decode (with grpc-js's default 64 KiB receive window, before
 * the broker opened 8 MiB, an 8 MiB batch took over 5 s: seed 2044819085,
 * request #43) while the broker answers everything else. A hang still shows:
 * it outlasts any deadline.
 */
const DEADLINE_MS_PER_MIB = 1000;
/** A call's deadline for `bytes` of requests. */
const deadlineFor = (bytes: number): number =>
  CALL_DEADLINE_MS + (DEADLINE_MS_PER_MIB * bytes) / 2 ** 20;
/** Of the requests, the share that are an EnqueueStream of several instead. */
const ENQUEUE_STREAM_SHARE = 0.03;
const ADMIN_METHODS = [
  'SetTenant',
  'GetTenant',
  'ListTenants',
  'GetStats',
  'ListJobs',
  'ListDeadLetters',
  'ReplayDeadLetters',
  'DeleteDeadLetters',
  'PurgeQueue',
];

const GOOD_JOBS = goodJobCount(BUDGET_MS);
/** The run, then the settling of the good pair (30 s at the default budget). */
const TEST_TIMEOUT_MS = BUDGET_MS + 23_000;

const seed = fuzzSeed();
const clusters = useCluster();

describe('fuzz: producer RPCs', { timeout: TEST_TIMEOUT_MS }, () => {
  it(`answers every malformed request and keeps serving (seed ${seed})`, async () => {
    console.info(`enqueue fuzz seed ${seed}; replay with ROTA_FUZZ_SEED=${seed}`);
    const cluster = await clusters.start({ logLevel: 'warn' });
    await cluster.startWorker({ queues: [GOOD_QUEUE], concurrency: 8 });
    const load = clusters.load({
      address: cluster.brokerAddress,
      total: GOOD_JOBS,
      concurrency: 2,
      pauseMs: 60,
      queue: GOOD_QUEUE,
      tenants: GOOD_TENANTS,
      jobMs: [1, 20],
    });
    const client = rawClient(cluster.brokerAddress);
    const enqueueMethod = (
      loadRotaPackageDefinition()['rota.v1.Broker'] as unknown as Record<
        string,
        { requestDeserialize(b: Buffer): unknown; responseDeserialize(b: Buffer): unknown }
      >
    ).Enqueue!;
    const known: Array<readonly [string, string]> = [];
    // Good jobs too: Get/Cancel must not touch them under a wrong tenant.
    const unexpected: string[] = [];
    const codes = new Map<string, number>();
    let slowest = 0;

    const sent = await runPool(16, MAX_REQUESTS, Date.now() + BUDGET_MS, async (i) => {
      const rng = new Rng(seed + i);
      if (rng.bool(ENQUEUE_STREAM_SHARE)) {
        // Several requests and answers: twice a call's base deadline, the same per MiB.
        const outcome = await fuzzEnqueueStream(
          rng,
          client,
          (bytes) => CALL_DEADLINE_MS + deadlineFor(bytes),
        );
        slowest = Math.max(slowest, outcome.ms);
        const key = `EnqueueStream ${outcome.ended} ${codeName(outcome.code)}`;
        codes.set(key, (codes.get(key) ?? 0) + 1);
        const allowed =
          (EXPECTED_CODES.has(outcome.code) ||
            (outcome.code === grpc.status.CANCELLED && outcome.ended === 'cancel')) &&
          (outcome.sentGarbage || !UNDECODABLE.test(outcome.details));
        if (!allowed || outcome.problems.length > 0) {
          unexpected.push(
            `#${i} (new Rng(${seed} + ${i})) EnqueueStream [${outcome.describe.slice(0, 400)}] → ${codeName(outcome.code)} "${outcome.details.slice(0, 300)}" after ${outcome.ms} ms; ${outcome.problems.slice(0, 3).join('; ')}`,
          );
        }
        return;
      }
      const request = producerRequest(rng, [
        ...known,
        ...load.acked.slice(-20).map((a) => ['fz-a', a.jobId] as const),
      ]);
      const service = ADMIN_METHODS.includes(request.method) ? 'rota.v1.Admin' : 'rota.v1.Broker';
      const path = `/${service}/${request.method}`;
      const outcome = await rawUnary(
        client,
        path,
        request.bytes,
        deadlineFor(request.bytes.length),
      );
      slowest = Math.max(slowest, outcome.ms);
      const key = `${request.method} ${codeName(outcome.code)}`;
      codes.set(key, (codes.get(key) ?? 0) + 1);
      // Random bytes may still decode; only garbage may be refused as undecodable.
      const allowed =
        EXPECTED_CODES.has(outcome.code) && (request.garbage || !UNDECODABLE.test(outcome.details));
      if (!allowed) {
        unexpected.push(
          `#${i} (new Rng(${seed} + ${i})) ${request.describe} → ${codeName(outcome.code)} "${outcome.details.slice(0, 300)}" after ${outcome.ms} ms`,
        );
      }
      if (request.method === 'Enqueue' && outcome.code === grpc.status.OK && outcome.response) {
        const reply = enqueueMethod.responseDeserialize(outcome.response) as { job_id: string };
        const { tenant } = enqueueMethod.requestDeserialize(request.bytes) as { tenant: string };
        if (known.length < 500) known.push([tenant, reply.job_id]);
      }
    });
    client.close();
    console.info(
      `sent ${sent} requests; slowest ${slowest} ms; by outcome: ${JSON.stringify(Object.fromEntries([...codes].sort()))}`,
    );

    // The broker is up and still serves a plain Enqueue.
    expect(cluster.broker?.alive, 'broker process alive').toBe(true);
    const probe = new Producer({ address: cluster.brokerAddress, timeoutMs: 5000 });
    try {
      const { jobId } = await probe.enqueue({
        tenant: 'probe',
        queue: 'probe',
        payload: { ok: 1 },
      });
      expect((await probe.getJob('probe', jobId)).state).toBe('WAITING');
    } finally {
      await probe.close();
    }

    const report = await finish(cluster, load, []);
    const errors = brokerErrors(cluster);
    if (errors.size > 0) console.warn(`broker error log lines: ${JSON.stringify([...errors])}`);
    expect(unexpected.slice(0, 20), `unexpected statuses (seed ${seed})`).toEqual([]);
    expect(load.anomalies).toEqual([]);
    expect(report.violations).toEqual([]);
    expect(report.completed).toBe(GOOD_JOBS);
    expect(sent).toBeGreaterThan(500);
  });
});
