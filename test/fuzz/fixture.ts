/**
 * Shared by the fuzz tests: raw unary calls with an identity serializer, the
 * status codes a broker may answer, a scan of the broker's log for errors, and
 * the well-behaved pair (a producer and a worker agent process on queues of
 * their own) whose jobs must all complete however the fuzzers behave.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';

import { CLIENT_RECEIVE_WINDOW } from '../../clients/connection.js';
import { Producer } from '../../clients/producer.js';
import type { Cluster } from '../faults/cluster.js';

export const GOOD_QUEUE = 'good';
export const GOOD_TENANTS = ['good-a', 'good-b'];

/**
 * Jobs of the well-behaved pair for a fuzzing budget: 150 per default budget
 * of 7 s, so a long run (ROTA_FUZZ_BUDGET_MS=60000) has them running
 * throughout, not only in its first seconds.
 */
export function goodJobCount(budgetMs: number): number {
  return Math.max(150, Math.round((150 * budgetMs) / 7000));
}

/** What a broker may answer a request it does not like. */
export const EXPECTED_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.NOT_FOUND,
  grpc.status.RESOURCE_EXHAUSTED,
]);

/** The broker's answer (INVALID_ARGUMENT) to bytes that do not decode as the request type. */
export const UNDECODABLE = /^the request does not decode as rota\.v1\.\w+ /;

export interface CallOutcome {
  readonly code: grpc.status;
  readonly details: string;
  readonly response: Buffer | undefined;
  readonly ms: number;
}

export function rawUnary(
  client: grpc.Client,
  path: string,
  bytes: Buffer,
  deadlineMs: number,
  metadata = new grpc.Metadata(),
): Promise<CallOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      path,
      (b) => b,
      (b) => b,
      bytes,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (error, response) =>
        resolve({
          code: error ? error.code : grpc.status.OK,
          details: error ? error.details : '',
          response: response ?? undefined,
          ms: Date.now() - started,
        }),
    );
  });
}

export function rawClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': -1,
    'grpc.max_receive_message_length': -1,
    'grpc.initial_reconnect_backoff_ms': 50,
    'grpc.max_reconnect_backoff_ms': 200,
    // As the real clients: with HTTP/2's default 64 KiB, the 4 MB answer to
    // an EnqueueStream request of ~46,000 jobs over the limit came 64 KiB per
    // turn of two busy event loops, and passed its 10 s deadline (seed
    // 1367650828, #3555, with ROTA_FUZZ_BUDGET_MS=60000).
    'grpc-node.flow_control_window': CLIENT_RECEIVE_WINDOW,
  });
}

export const codeName = (code: grpc.status): string =>
  (grpc.status as unknown as Record<number, string>)[code] ?? String(code);

/** After the fuzzing: the broker process lives and still stores a plain Enqueue. */
export async function expectStillServing(
  cluster: Cluster,
  token: string | undefined,
): Promise<void> {
  expect(cluster.broker?.alive, 'broker process alive').toBe(true);
  const probe = new Producer({ address: cluster.brokerAddress, token, timeoutMs: 5000 });
  try {
    const { jobId } = await probe.enqueue({ tenant: 'probe', queue: 'probe', payload: { ok: 1 } });
    expect((await probe.getJob('probe', jobId)).state).toBe('WAITING');
  } finally {
    await probe.close();
  }
}

/** Messages of the broker's log lines at level ≥ error, counted. */
export function brokerErrors(cluster: Cluster): Map<string, number> {
  const counts = new Map<string, number>();
  for (const proc of cluster.group.processes.filter((p) => p.name.startsWith('broker'))) {
    let text: string;
    try {
      text = readFileSync(proc.logFile, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const record = JSON.parse(line) as {
          level?: number;
          msg?: string;
          err?: { message?: string };
        };
        if ((record.level ?? 0) < 50) continue;
        const key = `${record.level} ${record.msg ?? ''}: ${record.err?.message?.slice(0, 160) ?? ''}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      } catch {
        const key = `non-JSON: ${line.slice(0, 160)}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  }
  return counts;
}

/**
 * Runs `task(i, lane)` for i = 0, 1, … with `lanes` in parallel until `count`,
 * or until `deadline` once at least `minimum` have started: a slow or busy
 * machine runs longer rather than fuzzing less (tests never judge speed).
 */
export async function runPool(
  lanes: number,
  { count, minimum, deadline }: { count: number; minimum: number; deadline: number },
  task: (index: number, lane: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      while (next < count && (next < minimum || Date.now() < deadline)) await task(next++, lane);
    }),
  );
  return next;
}

/**
 * Measures how long the broker takes to answer a tiny GetJob every `everyMs`
 * while something else runs: a stalled event loop shows as a long answer.
 */
export function latencyMonitor(
  address: string,
  /** A producer's; without it, where the broker has tokens, it times their refusal. */
  token: string | undefined,
  everyMs = 100,
): { stop(): Promise<{ max: number; p99: number; samples: number }> } {
  const client = rawClient(address);
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const outcome = await rawUnary(
        client,
        '/rota.v1.Broker/GetJob',
        Buffer.from('0a0170120171', 'hex'),
        10_000,
        metadata,
      );
      samples.push(outcome.ms);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.close();
      const sorted = [...samples].sort((a, b) => a - b);
      return {
        max: sorted.at(-1) ?? 0,
        p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
        samples: sorted.length,
      };
    },
  };
}
