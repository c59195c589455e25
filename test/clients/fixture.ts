/**
 * Client tests run against the real broker over real gRPC on 127.0.0.1: one
 * redis-server per test file, one broker (own key prefix) per test. Every
 * Producer and Worker a test makes is closed after it, and a Worker that did
 * not stop fails the test.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';

import { Admin } from '../../clients/admin.js';
import type { RotaError } from '../../clients/errors.js';
import { Producer, type ProducerOptions } from '../../clients/producer.js';
import { Worker, type WorkerOptions } from '../../clients/worker.js';
import {
  eventually,
  startTestBroker,
  type TestBroker,
  type TestBrokerOptions,
} from '../helpers/broker.js';
import type { JobInfo, JobState } from '../../clients/job.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

export interface RotaFixture {
  /** Address of the current broker. */
  readonly address: string;
  readonly broker: TestBroker;
  /** A Producer of the current broker, or of `options.address` (several brokers, say). */
  producer(options?: ProducerOptions): Producer;
  /** A Worker of the current broker, or of `options.address`. */
  worker(options: WorkerOptions): Worker;
  /**
   * Kills the broker (crash) and starts a new one on the same address, Redis
   * and key prefix; `overrides` change its other options.
   */
  crashAndRestartBroker(
    between?: () => Promise<void>,
    overrides?: Omit<TestBrokerOptions, 'redisUrl'>,
  ): Promise<void>;
}

export const LEASE_TTL_MS = 1500;
export const HEARTBEAT_INTERVAL_MS = 300;

/** `options` go to every broker the fixture starts. */
export function useRota(options: Omit<TestBrokerOptions, 'redisUrl'> = {}): RotaFixture {
  let redis: TestRedis | undefined;
  let broker: TestBroker | undefined;
  let producers: Producer[] = [];
  let workers: Worker[] = [];

  const current = (): TestBroker => {
    if (broker === undefined) throw new Error('no broker: use the fixture inside a test');
    return broker;
  };

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.dispose();
  });
  beforeEach(async () => {
    broker = await startTestBroker({
      redisUrl: redis!.url,
      leaseTtlMs: LEASE_TTL_MS,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      ...options,
    });
  });
  afterEach(async () => {
    const open = workers;
    workers = [];
    await Promise.all(open.map((w) => w.close()));
    await Promise.all(producers.map((p) => p.close()));
    producers = [];
    await broker?.shutdown(1000);
    broker = undefined;
    for (const w of open) expect(w.state, 'a Worker did not stop').toBe('STOPPED');
  });

  return {
    get address() {
      return current().address;
    },
    get broker() {
      return current();
    },
    producer(options = {}) {
      const p = new Producer({ ...options, address: options.address ?? current().address });
      producers.push(p);
      return p;
    },
    worker(options) {
      const w = new Worker({
        reconnect: { initialMs: 20, maxMs: 200 },
        shutdownGraceMs: 2000,
        ...options,
        address: options.address ?? current().address,
      });
      workers.push(w);
      return w;
    },
    async crashAndRestartBroker(between, overrides = {}) {
      const old = current();
      await old.kill();
      await between?.();
      broker = await startTestBroker({
        redisUrl: redis!.url,
        grpcAddress: old.address,
        keyPrefix: old.config.keyPrefix,
        leaseTtlMs: LEASE_TTL_MS,
        heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
        ...options,
        ...overrides,
      });
    },
  };
}

/** Polls until `check` returns something other than undefined (tests wait on state, not time). */
export { eventually as waitFor } from '../helpers/broker.js';

/** Waits until the job is in `state`, and returns it as the producer reads it. */
export function waitState(
  producer: Producer,
  tenant: string,
  jobId: string,
  state: JobState,
): Promise<JobInfo> {
  return eventually(async () => {
    const info = await producer.getJob(tenant, jobId);
    return info.state === state ? info : undefined;
  });
}

/** Waits until the job is COMPLETED, and returns it as the producer reads it. */
export function completed(producer: Producer, tenant: string, jobId: string): Promise<JobInfo> {
  return waitState(producer, tenant, jobId, 'COMPLETED');
}

/**
 * A busy Producer: `callers` loops, each enqueueing one job after the other
 * into `queue` (tenant acme, no idempotency key) until stop(), or until its
 * first error. stop() resolves once every loop is done.
 */
export function keepEnqueueing(
  producer: Producer,
  queue: string,
  callers = 16,
): { readonly jobIds: string[]; readonly errors: RotaError[]; stop(): Promise<void> } {
  const jobIds: string[] = [];
  const errors: RotaError[] = [];
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        jobIds.push((await producer.enqueue({ tenant: 'acme', queue })).jobId);
      } catch (error) {
        errors.push(error as RotaError);
        return;
      }
    }
  };
  const loops = Array.from({ length: callers }, loop);
  return {
    jobIds,
    errors,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** Jobs waiting in a queue of tenant acme, as Redis holds them. */
export async function waitingJobs(address: string, queue: string): Promise<number> {
  const admin = new Admin({ address });
  try {
    const { entries } = await admin.getStats({ queue, tenant: 'acme' });
    return entries[0]?.waiting ?? 0;
  } finally {
    admin.close();
  }
}

/** A promise with its resolver, for handlers the test releases. */
export function gate<T = void>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Counts calls and messages sent per method path, e.g. '/rota.v1.Broker/EnqueueStream'. */
export function callCounter(): {
  calls: Map<string, number>;
  messages: Map<string, number>;
  interceptor: grpc.Interceptor;
} {
  const calls = new Map<string, number>();
  const messages = new Map<string, number>();
  const count = (map: Map<string, number>, path: string): void => {
    map.set(path, (map.get(path) ?? 0) + 1);
  };
  const interceptor: grpc.Interceptor = (options, nextCall) => {
    const path = options.method_definition.path;
    count(calls, path);
    return new grpc.InterceptingCall(nextCall(options), {
      sendMessage: (message, next) => {
        count(messages, path);
        next(message);
      },
    });
  };
  return { calls, messages, interceptor };
}

export const STREAM = '/rota.v1.Broker/EnqueueStream';
