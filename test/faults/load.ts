/**
 * The producer side of the fault suite: enqueues jobs with an idempotency key
 * each and keeps retrying an Enqueue that fails with UNAVAILABLE (or a deadline
 * that ran out while the broker or Redis was down) under the same key. A job
 * counts as acknowledged only once an Enqueue returned OK; a retry answered
 * `duplicate` proves the first attempt was stored although its reply was lost.
 * Any other failure is an anomaly (a wrong status code for a fault) and is kept
 * as evidence.
 */
import * as grpc from '@grpc/grpc-js';

import type { JobInput } from '../../clients/job.js';
import { Producer } from '../../clients/producer.js';
import { RotaError } from '../../clients/errors.js';
import { sleep } from './processes.js';

export interface AckedJob {
  readonly tenant: string;
  readonly jobId: string;
  readonly key: string;
  /** When the first Enqueue of it was sent. */
  readonly firstTryAt: number;
  /** When Enqueue returned OK. */
  readonly at: number;
  /** Enqueue calls it took. */
  readonly tries: number;
  /** The OK came as `duplicate`: an earlier, failed-looking call had stored it. */
  readonly duplicate: boolean;
}

export interface EnqueueAnomaly {
  readonly key: string;
  readonly code: string;
  readonly message: string;
  readonly at: number;
}

export interface LoadOptions {
  readonly address: string;
  /** Brokers to spread the lanes over (lane i uses the i-th mod n). @default [address] */
  readonly addresses?: readonly string[];
  readonly total: number;
  /** Bearer token of its producers. @default none */
  readonly token?: string;
  /** Enqueues in flight at once. @default 4 */
  readonly concurrency?: number;
  /** Pause between two enqueues of one lane. @default 10 */
  readonly pauseMs?: number;
  readonly tenants?: readonly string[];
  readonly queue?: string;
  /** Run time of each job, [min, max) ms. @default [10, 80] */
  readonly jobMs?: readonly [number, number];
  /** Give up on one job after this long. @default 25_000 */
  readonly giveUpMs?: number;
  /** Prefix of idempotency keys (unique per run). */
  readonly keyPrefix?: string;
  /** Changes each job before it is sent (priority, delay, failures the payload asks for…). */
  readonly shapeJob?: (job: JobInput, seq: number) => JobInput;
  /** Called once a job is acknowledged, with the producer of its lane. */
  readonly onAcked?: (acked: AckedJob, job: JobInput, producer: Producer) => void;
}

const RETRYABLE = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export class LoadGenerator {
  readonly acked: AckedJob[] = [];
  readonly anomalies: EnqueueAnomaly[] = [];
  /** Keys that never got an OK (gave up or stopped). */
  readonly unacked: string[] = [];
  retries = 0;
  #submitted = 0;
  #stopped = false;
  #aborted = false;
  readonly #producers: Producer[];
  readonly done: Promise<void>;

  constructor(readonly options: LoadOptions) {
    this.#producers = (options.addresses ?? [options.address]).map(
      (address) =>
        new Producer({
          address,
          token: options.token,
          timeoutMs: 2000,
          channelOptions: {
            'grpc.initial_reconnect_backoff_ms': 50,
            'grpc.max_reconnect_backoff_ms': 250,
          },
        }),
    );
    const lanes = Array.from({ length: options.concurrency ?? 4 }, (_, lane) =>
      this.#lane(this.#producers[lane % this.#producers.length]!),
    );
    this.done = Promise.all(lanes).then(() => undefined);
  }

  /** The producer of the first broker. */
  get producer(): Producer {
    return this.#producers[0]!;
  }

  get submitted(): number {
    return this.#submitted;
  }

  /** Stop starting new jobs (jobs under way keep retrying until acked or given up). */
  stop(): void {
    this.#stopped = true;
  }

  /** Stop at once: also give up on jobs still being retried (test cleanup). */
  abort(): void {
    this.#stopped = true;
    this.#aborted = true;
  }

  async close(): Promise<void> {
    this.stop();
    await this.done;
    await Promise.all(this.#producers.map((producer) => producer.close()));
  }

  async #lane(producer: Producer): Promise<void> {
    const { total, tenants = ['acme', 'globex', 'initech'], queue = 'faults' } = this.options;
    const [minMs, maxMs] = this.options.jobMs ?? [10, 80];
    const prefix = this.options.keyPrefix ?? `load-${Date.now().toString(36)}`;
    while (!this.#stopped && this.#submitted < total) {
      const seq = this.#submitted++;
      const tenant = tenants[seq % tenants.length]!;
      const key = `${prefix}-${seq}`;
      const ms = Math.floor(minMs + Math.random() * (maxMs - minMs));
      const job: JobInput = {
        tenant,
        queue,
        payload: { ms, seq },
        idempotencyKey: key,
        maxAttempts: 50,
        backoff: { initialMs: 50, maxMs: 250 },
      };
      await this.#enqueueUntilAcked(producer, key, this.options.shapeJob?.(job, seq) ?? job);
      await sleep(this.options.pauseMs ?? 10);
    }
  }

  async #enqueueUntilAcked(producer: Producer, key: string, job: JobInput): Promise<void> {
    const firstTryAt = Date.now();
    const giveUpAt = firstTryAt + (this.options.giveUpMs ?? 25_000);
    for (let tries = 1; ; tries++) {
      try {
        const { jobId, duplicate } = await producer.enqueue(job);
        const acked = {
          tenant: job.tenant,
          jobId,
          key,
          firstTryAt,
          at: Date.now(),
          tries,
          duplicate,
        };
        this.acked.push(acked);
        this.options.onAcked?.(acked, job, producer);
        return;
      } catch (error) {
        const code = error instanceof RotaError ? error.code : grpc.status.UNKNOWN;
        if (!RETRYABLE.has(code)) {
          this.anomalies.push({
            key,
            code: error instanceof RotaError ? error.codeName : 'UNKNOWN',
            message: error instanceof Error ? error.message : String(error),
            at: Date.now(),
          });
        }
        if (Date.now() > giveUpAt || this.#aborted) {
          this.unacked.push(key);
          return;
        }
        this.retries++;
        await sleep(50 + Math.random() * 50);
      }
    }
  }
}
