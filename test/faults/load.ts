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

import { Producer } from '../../clients/producer.js';
import { RotaError } from '../../clients/errors.js';
import { sleep } from './processes.js';

export interface AckedJob {
  readonly tenant: string;
  readonly jobId: string;
  readonly key: string;
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
  readonly total: number;
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
  readonly #producer: Producer;
  readonly done: Promise<void>;

  constructor(readonly options: LoadOptions) {
    this.#producer = new Producer({
      address: options.address,
      timeoutMs: 2000,
      channelOptions: {
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 250,
      },
    });
    const lanes = Array.from({ length: options.concurrency ?? 4 }, () => this.#lane());
    this.done = Promise.all(lanes).then(() => undefined);
  }

  get producer(): Producer {
    return this.#producer;
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
    await this.#producer.close();
  }

  async #lane(): Promise<void> {
    const { total, tenants = ['acme', 'globex', 'initech'], queue = 'faults' } = this.options;
    const [minMs, maxMs] = this.options.jobMs ?? [10, 80];
    const prefix = this.options.keyPrefix ?? `load-${Date.now().toString(36)}`;
    while (!this.#stopped && this.#submitted < total) {
      const seq = this.#submitted++;
      const tenant = tenants[seq % tenants.length]!;
      const key = `${prefix}-${seq}`;
      const ms = Math.floor(minMs + Math.random() * (maxMs - minMs));
      await this.#enqueueUntilAcked(key, {
        tenant,
        queue,
        payload: { ms, seq },
        idempotencyKey: key,
        maxAttempts: 50,
        backoff: { initialMs: 50, maxMs: 250 },
      });
      await sleep(this.options.pauseMs ?? 10);
    }
  }

  async #enqueueUntilAcked(key: string, job: Parameters<Producer['enqueue']>[0]): Promise<void> {
    const giveUpAt = Date.now() + (this.options.giveUpMs ?? 25_000);
    for (let tries = 1; ; tries++) {
      try {
        const { jobId, duplicate } = await this.#producer.enqueue(job);
        this.acked.push({ tenant: job.tenant, jobId, key, at: Date.now(), tries, duplicate });
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
