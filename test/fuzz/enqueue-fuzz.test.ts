/**
 * Fuzz of the producer RPCs: thousands of random and malformed Enqueue,
 * EnqueueBatch, EnqueueStream (enqueue-stream-gen.ts), GetJob, CancelJob and
 * Admin (SetTenant, GetTenant, ListTenants, GetStats, listings, dead letter
 * replays and deletions, purges) requests, built byte by byte
 * (random strings incl. unicode, huge and empty ones, negative and oversized
 * numbers, NaN and infinite doubles, huge maps, raw garbage that is no
 * protobuf), sent to a broker process with a deadline each.
 *
 * The broker has tokens (credentials.ts; ROTA_FUZZ_AUTH=off: none): each call
 * goes mostly as the unscoped token of its role, else as any token of the
 * table (a producer, worker or admin one; of every tenant or limited to some),
 * with none, an unknown or malformed one; a batch or stream mixes tenants in
 * and out of its token's.
 *
 * Holds: every call gets a status (never the deadline); one its token may not
 * make (no valid token, another role, a tenant outside it, a SetTenant of an
 * admin limited to tenants that sets their share) exactly UNAUTHENTICATED or
 * PERMISSION_DENIED, the others among OK, INVALID_ARGUMENT,
 * FAILED_PRECONDITION, NOT_FOUND, RESOURCE_EXHAUSTED (garbage gets
 * INVALID_ARGUMENT saying it does not decode; a stream we cancelled,
 * CANCELLED); each EnqueueStream answer fits a request sent, and a stream that
 * ends OK answered them all; in batches and streams exactly the items outside
 * the token are PERMISSION_DENIED, and none of those is stored, while each
 * accepted job is stored once and reads back (ledger.ts); the broker
 * process stays up and still answers a health probe; a well-behaved producer
 * and worker running alongside (with tokens of their own tenants) complete
 * every job.
 *
 * Seeded: the seed is printed; replay with ROTA_FUZZ_SEED=<seed>. Request #i is
 * generated from `new Rng(seed + i)` alone.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import type { EnqueueBatchRequest__Output } from '../../src/generated/rota/v1/EnqueueBatchRequest.js';
import type { EnqueueBatchResponse__Output } from '../../src/generated/rota/v1/EnqueueBatchResponse.js';
import type { EnqueueRequest__Output } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResponse__Output } from '../../src/generated/rota/v1/EnqueueResponse.js';
import type { EnqueueResult__Output } from '../../src/generated/rota/v1/EnqueueResult.js';
import { loadRotaPackageDefinition } from '../../src/grpc/proto.js';
import { finish, useCluster } from '../faults/fixture.js';
import {
  AUTH_CODES,
  CLUSTER_AUTH,
  credential,
  expectedRefusal,
  roleOf,
  tokenOf,
  type Caller,
} from './credentials.js';
import { producerRequest, type FuzzRequest } from './enqueue-gen.js';
import { fuzzEnqueueStream } from './enqueue-stream-gen.js';
import { EnqueueLedger } from './ledger.js';
import {
  brokerErrors,
  codeName,
  EXPECTED_CODES,
  expectStillServing,
  GOOD_QUEUE,
  GOOD_TENANTS,
  goodJobCount,
  UNDECODABLE,
  rawClient,
  rawUnary,
  runPool,
  type CallOutcome,
} from './fixture.js';
import { fuzzSeed, Rng } from './prng.js';

const MAX_REQUESTS = Number(process.env.ROTA_FUZZ_REQUESTS ?? 4000);
/** Sent even past the budget: a busy machine runs longer (223–405 requests in 7 s with tokens, 808 without). */
const MIN_REQUESTS = Math.min(MAX_REQUESTS, 150);
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
/**
 * The run, the calls it left in flight (the slowest take seconds more in a
 * long run), the ledger's checks and the settling of the good pair (34 s at
 * the default budget).
 */
const TEST_TIMEOUT_MS = 1.25 * BUDGET_MS + 25_000;

const seed = fuzzSeed();
const clusters = useCluster();

describe('fuzz: producer RPCs', { timeout: TEST_TIMEOUT_MS }, () => {
  it(`answers every malformed request and keeps serving (seed ${seed})`, async () => {
    console.info(`enqueue fuzz seed ${seed}; replay with ROTA_FUZZ_SEED=${seed}`);
    const cluster = await clusters.start({ logLevel: 'warn', auth: CLUSTER_AUTH });
    await cluster.startWorker({ queues: [GOOD_QUEUE], concurrency: 8 });
    const load = clusters.load({
      address: cluster.brokerAddress,
      token: cluster.auth?.producer,
      total: GOOD_JOBS,
      concurrency: 2,
      pauseMs: 60,
      queue: GOOD_QUEUE,
      tenants: GOOD_TENANTS,
      jobMs: [1, 20],
    });
    const client = rawClient(cluster.brokerAddress);
    const ledger = new EnqueueLedger();
    const known: Array<readonly [string, string]> = [];
    // Good jobs too: Get/Cancel must not touch them under a wrong tenant.
    const unexpected: string[] = [];
    const codes = new Map<string, number>();
    let slowest = 0;

    const sent = await runPool(
      16,
      { count: MAX_REQUESTS, minimum: MIN_REQUESTS, deadline: Date.now() + BUDGET_MS },
      async (i) => {
        const rng = new Rng(seed + i);
        if (rng.bool(ENQUEUE_STREAM_SHARE)) {
          // Several requests and answers: twice a call's base deadline, the same per MiB.
          const as = credential(rng, 'producer');
          const outcome = await fuzzEnqueueStream(
            rng,
            client,
            (bytes) => CALL_DEADLINE_MS + deadlineFor(bytes),
            as,
            ledger,
          );
          slowest = Math.max(slowest, outcome.ms);
          const key = `EnqueueStream ${outcome.ended} ${codeName(outcome.code)}`;
          codes.set(key, (codes.get(key) ?? 0) + 1);
          const cancelled = outcome.code === grpc.status.CANCELLED && outcome.ended === 'cancel';
          const allowed =
            cancelled ||
            (outcome.refusal === undefined
              ? EXPECTED_CODES.has(outcome.code) &&
                (outcome.sentGarbage || !UNDECODABLE.test(outcome.details))
              : outcome.code === outcome.refusal);
          if (!allowed || outcome.problems.length > 0) {
            unexpected.push(
              `#${i} (new Rng(${seed} + ${i})) EnqueueStream as ${as.label} [${outcome.describe.slice(0, 400)}] → ${codeName(outcome.code)} "${outcome.details.slice(0, 300)}" after ${outcome.ms} ms; ${outcome.problems.slice(0, 3).join('; ')}`,
            );
          }
          return;
        }
        const request = producerRequest(rng, [
          ...known,
          ...load.acked.slice(-20).map((a) => ['fz-a', a.jobId] as const),
        ]);
        const as = credential(rng, roleOf(request.method));
        const service = ADMIN_METHODS.includes(request.method) ? 'rota.v1.Admin' : 'rota.v1.Broker';
        const path = `/${service}/${request.method}`;
        const outcome = await rawUnary(
          client,
          path,
          request.bytes,
          deadlineFor(request.bytes.length),
          as.metadata,
        );
        slowest = Math.max(slowest, outcome.ms);
        const key = `${request.method} ${codeName(outcome.code)}`;
        codes.set(key, (codes.get(key) ?? 0) + 1);
        const decoded = decode(service, request);
        const refusal = expectedRefusal(request.method, decoded, as.caller);
        const problems: string[] = [];
        // Random bytes may still decode; only garbage may be refused as undecodable.
        if (refusal !== undefined) {
          if (outcome.code !== refusal)
            problems.push(`its token's refusal is ${codeName(refusal)}`);
        } else if (
          !EXPECTED_CODES.has(outcome.code) ||
          (!request.garbage && UNDECODABLE.test(outcome.details))
        ) {
          problems.push(AUTH_CODES.has(outcome.code) ? 'its token may make it' : 'unexpected code');
        }
        problems.push(...recordEnqueues(ledger, request, decoded, as.caller, outcome, refusal));
        if (problems.length > 0) {
          unexpected.push(
            `#${i} (new Rng(${seed} + ${i})) ${request.describe} as ${as.label} → ${codeName(outcome.code)} "${outcome.details.slice(0, 300)}" after ${outcome.ms} ms: ${problems.join('; ')}`,
          );
        }
        if (request.method === 'Enqueue' && outcome.code === grpc.status.OK && outcome.response) {
          const reply = responseOf(service, request.method, outcome.response) as { job_id: string };
          const { tenant } = decoded as { tenant: string };
          if (known.length < 500) known.push([tenant, reply.job_id]);
        }
      },
    );
    client.close();
    console.info(
      `sent ${sent} requests; slowest ${slowest} ms; by outcome: ${JSON.stringify(Object.fromEntries([...codes].sort()))}`,
    );

    await expectStillServing(cluster, tokenOf('producer'));

    const stored = await ledger.check(cluster.brokerAddress);
    console.info(
      `items let through ${ledger.acceptedItems}, refused for the token ${ledger.refusedItems}; probed ${stored.probed} refused, read back ${stored.read} accepted`,
    );
    const report = await finish(cluster, load, []);
    const errors = brokerErrors(cluster);
    if (errors.size > 0) console.warn(`broker error log lines: ${JSON.stringify([...errors])}`);
    expect(unexpected.slice(0, 20), `unexpected statuses (seed ${seed})`).toEqual([]);
    expect(stored.problems.slice(0, 20), `stored against the token (seed ${seed})`).toEqual([]);
    expect(load.anomalies).toEqual([]);
    expect(report.violations).toEqual([]);
    expect(report.completed).toBe(GOOD_JOBS);
    expect(sent).toBeGreaterThanOrEqual(MIN_REQUESTS);
  });
});

type Service = 'rota.v1.Admin' | 'rota.v1.Broker';
interface Codec {
  requestDeserialize(bytes: Buffer): unknown;
  responseDeserialize(bytes: Buffer): unknown;
}
const codecOf = (service: Service, method: string): Codec =>
  (loadRotaPackageDefinition()[service] as unknown as Record<string, Codec>)[method]!;

/** The request as the broker decodes it; undefined when it does not. */
function decode(service: Service, request: FuzzRequest): Record<string, unknown> | undefined {
  try {
    return codecOf(service, request.method).requestDeserialize(request.bytes) as Record<
      string,
      unknown
    >;
  } catch {
    return undefined;
  }
}

const responseOf = (service: Service, method: string, bytes: Buffer): unknown =>
  codecOf(service, method).responseDeserialize(bytes);

/** Enqueue and EnqueueBatch's jobs into the ledger, with the problems of their answer. */
function recordEnqueues(
  ledger: EnqueueLedger,
  request: FuzzRequest,
  decoded: Record<string, unknown> | undefined,
  caller: Caller | undefined,
  outcome: CallOutcome,
  refusal: grpc.status | undefined,
): string[] {
  if (decoded === undefined) return [];
  if (request.method === 'DeleteDeadLetters' && outcome.code === grpc.status.OK) {
    ledger.deletedDeadLetters(decoded.tenant as string);
  }
  const jobs =
    request.method === 'Enqueue'
      ? [decoded as unknown as EnqueueRequest__Output]
      : request.method === 'EnqueueBatch'
        ? (decoded as unknown as EnqueueBatchRequest__Output).jobs
        : [];
  if (jobs.length === 0) return [];
  if (refusal !== undefined) {
    ledger.refused(jobs, request.describe);
    return [];
  }
  if (outcome.code !== grpc.status.OK || !outcome.response || caller === undefined) {
    ledger.sent(jobs);
    return [];
  }
  const response = responseOf('rota.v1.Broker', request.method, outcome.response);
  const results: EnqueueResult__Output[] =
    request.method === 'Enqueue'
      ? [{ ...(response as EnqueueResponse__Output), code: 0, error: '' }]
      : (response as EnqueueBatchResponse__Output).results;
  return ledger.answered(caller, jobs, results, request.describe);
}
