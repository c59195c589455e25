/**
 * Producer: enqueue jobs, read them back, cancel them.
 *
 * Throughput: jobs travel on one EnqueueStream (a gRPC message per batch costs
 * a fraction of a unary call), and `enqueue()` calls made in the same tick are
 * coalesced into one batch (flushed on `setImmediate`, or at once when
 * `maxBatch` calls are waiting). Each caller still gets its own job id, or a
 * RotaError with its own item's code and message; a failure of the whole
 * batch rejects every caller of that batch. 1,000 concurrent `enqueue()` calls
 * therefore cost two messages, not a thousand calls.
 */
import * as grpc from '@grpc/grpc-js';

import type { EnqueueRequest } from '../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResult__Output } from '../src/generated/rota/v1/EnqueueResult.js';
import type { CancelJobResponse__Output } from '../src/generated/rota/v1/CancelJobResponse.js';
import {
  checkTimeoutMs,
  connect,
  unary,
  type Connection,
  type ConnectionOptions,
} from './connection.js';
import { EnqueueStream } from './enqueue-stream.js';
import { RotaError, toRotaError } from './errors.js';
import type { Span } from '@opentelemetry/api';
import {
  SpanKind,
  endSpan,
  headersWithSpan,
  messagingAttributes,
  startSpan,
} from '../src/telemetry/tracing.js';
import { toEnqueueRequest, toJobInfo, type JobInfo, type JobInput, type JobState } from './job.js';

export interface ProducerOptions extends ConnectionOptions {
  /**
   * Most jobs in one batch (coalesced `enqueue()` calls and chunks of
   * `enqueueBatch()`). Keep it at or below the broker's batch limit (1000).
   * @default 500
   */
  maxBatch?: number;
  /**
   * Deadline of each call in ms (getJob, cancel) and of each batch's answer
   * on the enqueue stream. @default none
   */
  timeoutMs?: number;
}

export interface EnqueueResult {
  jobId: string;
  /** True when the idempotency key matched an existing job. */
  duplicate: boolean;
}

export type EnqueueBatchItem = EnqueueResult | { error: RotaError };

export interface CancelResult {
  /** True when this call cancelled the job; false when it had already ended. */
  cancelled: boolean;
  state: JobState;
}

interface CompiledProducerOptions {
  readonly maxBatch: number;
  readonly timeoutMs: number | undefined;
}

function compileOptions(options: ProducerOptions): CompiledProducerOptions {
  const maxBatch = options.maxBatch ?? 500;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new TypeError(`Producer: maxBatch must be an integer ≥ 1, got ${maxBatch}`);
  }
  return Object.freeze({ maxBatch, timeoutMs: checkTimeoutMs('Producer', options.timeoutMs) });
}

interface Waiter {
  readonly request: EnqueueRequest;
  resolve(result: EnqueueResult): void;
  reject(err: RotaError): void;
}

function itemOutcome(item: EnqueueResult__Output | undefined): EnqueueBatchItem {
  if (item === undefined) {
    return {
      error: new RotaError(grpc.status.INTERNAL, 'broker answered fewer results than jobs sent'),
    };
  }
  if (item.code !== (grpc.status.OK as number))
    return { error: new RotaError(item.code, item.error) };
  return { jobId: item.job_id, duplicate: item.duplicate };
}

/**
 * A PRODUCER span per job; its context travels in the job's headers (W3C
 * traceparent/tracestate), so the broker's and the worker's spans join the trace.
 */
function prepare(job: JobInput): { request: EnqueueRequest; span: Span } | { error: RotaError } {
  const span = startSpan(`send ${job.queue}`, SpanKind.PRODUCER, messagingAttributes('send', job));
  try {
    return {
      request: toEnqueueRequest({ ...job, headers: headersWithSpan(job.headers, span) }),
      span,
    };
  } catch (err) {
    const error = new RotaError(grpc.status.INVALID_ARGUMENT, (err as Error).message, {
      cause: err,
    });
    endSpan(span, error);
    return { error };
  }
}

function endSendSpan(span: Span, outcome: EnqueueBatchItem): void {
  if ('error' in outcome) {
    endSpan(span, outcome.error);
    return;
  }
  span.setAttribute('messaging.message.id', outcome.jobId);
  if (outcome.duplicate) span.setAttribute('rota.duplicate', true);
  endSpan(span);
}

export class Producer {
  readonly #options: CompiledProducerOptions;
  readonly #connection: Connection;
  readonly #stream: EnqueueStream;
  #waiting: Waiter[] = [];
  #flushScheduled: NodeJS.Immediate | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: ProducerOptions = {}) {
    this.#options = compileOptions(options);
    this.#connection = connect(options);
    this.#stream = new EnqueueStream(this.#connection, this.#options.timeoutMs);
  }

  /** Stores one job; resolves once it is durably in Redis. */
  enqueue(job: JobInput): Promise<EnqueueResult> {
    if (this.#closed) return Promise.reject(closedError());
    const prepared = prepare(job);
    if ('error' in prepared) return Promise.reject(prepared.error);
    const { request, span } = prepared;
    const result = new Promise<EnqueueResult>((resolve, reject) => {
      this.#waiting.push({ request, resolve, reject });
      if (this.#waiting.length >= this.#options.maxBatch) this.#flush();
      else this.#flushScheduled ??= setImmediate(() => this.#flush());
    });
    result.then(
      (outcome) => endSendSpan(span, outcome),
      (error: unknown) => endSendSpan(span, { error: toRotaError(error) }),
    );
    return result;
  }

  /**
   * Stores many jobs (in RPCs of at most `maxBatch`). Every item gets its own
   * outcome, in input order: its id, or `{ error }` (the item's own error, or
   * the error of its batch when that whole batch failed). Never rejects for a
   * broker failure, so no stored job's id is lost.
   */
  async enqueueBatch(jobs: readonly JobInput[]): Promise<EnqueueBatchItem[]> {
    if (this.#closed) throw closedError();
    const out = new Array<EnqueueBatchItem>(jobs.length);
    const chunks: Array<{ indexes: number[]; requests: EnqueueRequest[] }> = [];
    let chunk: (typeof chunks)[number] | undefined;
    const spans = new Array<Span | undefined>(jobs.length);
    jobs.forEach((job, index) => {
      const prepared = prepare(job);
      if ('error' in prepared) {
        out[index] = prepared;
        return;
      }
      const { request } = prepared;
      spans[index] = prepared.span;
      if (chunk === undefined || chunk.requests.length >= this.#options.maxBatch) {
        chunk = { indexes: [], requests: [] };
        chunks.push(chunk);
      }
      chunk.indexes.push(index);
      chunk.requests.push(request);
    });
    // One chunk after the other, so the jobs are stored (and run) in the order given.
    for (const { indexes, requests } of chunks) {
      try {
        const results = await this.#send(requests);
        indexes.forEach((index, i) => (out[index] = itemOutcome(results[i])));
      } catch (err) {
        const error = toRotaError(err);
        for (const index of indexes) out[index] = { error };
      }
    }
    spans.forEach((span, index) => span && endSendSpan(span, out[index]!));
    return out;
  }

  /**
   * The job record. RotaError NOT_FOUND when it never existed or its retention
   * expired (at once for completed and cancelled jobs on a broker run with
   * ROTA_COMPLETED_RETENTION_MS=0).
   */
  async getJob(tenant: string, jobId: string): Promise<JobInfo> {
    if (this.#closed) throw closedError();
    const job = await this.#track(
      unary<Parameters<typeof toJobInfo>[0]>(this.#connection, this.#options.timeoutMs, (...call) =>
        this.#connection.client.GetJob({ tenant, job_id: jobId }, ...call),
      ),
    );
    return toJobInfo(job);
  }

  /**
   * Cancels a waiting, delayed or running job; a job that already ended is
   * reported, not an error (RotaError NOT_FOUND once its retention is over).
   */
  async cancel(tenant: string, jobId: string): Promise<CancelResult> {
    if (this.#closed) throw closedError();
    const reply = await this.#track(
      unary<CancelJobResponse__Output>(this.#connection, this.#options.timeoutMs, (...call) =>
        this.#connection.client.CancelJob({ tenant, job_id: jobId }, ...call),
      ),
    );
    return { cancelled: reply.cancelled, state: reply.state };
  }

  /** Sends what is still waiting to be coalesced, waits for calls under way, then closes the channel. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flush();
    await Promise.allSettled([...this.#inFlight]);
    await this.#stream.close();
    this.#connection.client.close();
  }

  #flush(): void {
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, this.#options.maxBatch);
      this.#send(batch.map((w) => w.request)).then(
        (results) =>
          batch.forEach((waiter, i) => {
            const outcome = itemOutcome(results[i]);
            if ('error' in outcome) waiter.reject(outcome.error);
            else waiter.resolve(outcome);
          }),
        (err: unknown) => {
          const error = toRotaError(err);
          for (const waiter of batch) waiter.reject(error);
        },
      );
    }
  }

  #send(jobs: EnqueueRequest[]): Promise<EnqueueResult__Output[]> {
    return this.#track(this.#stream.send(jobs));
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight.add(promise);
    const forget = (): void => void this.#inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  }
}

function closedError(): RotaError {
  return new RotaError(grpc.status.FAILED_PRECONDITION, 'the Producer is closed');
}
