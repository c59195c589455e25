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
 *
 * A batch also stops at MAX_BATCH_BYTES, and at the broker's batch limit,
 * which every answer on the stream states (a batch sent before the first
 * answer that is over it is refused whole and resent in parts): jobs each
 * within the broker's limits are then never refused for the company they were
 * sent in. A job whose names, idempotency key or headers the broker would
 * refuse, or that is not of the right shape, is refused before it joins a
 * batch: its caller alone gets the error.
 */
import * as grpc from '@grpc/grpc-js';

import type { EnqueueRequest } from '../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResult__Output } from '../src/generated/rota/v1/EnqueueResult.js';
import type { CancelJobResponse__Output } from '../src/generated/rota/v1/CancelJobResponse.js';
import type { EnqueueResponse__Output } from '../src/generated/rota/v1/EnqueueResponse.js';
import {
  checkTimeoutMs,
  connect,
  unary,
  type Connection,
  type ConnectionOptions,
} from './connection.js';
import { EnqueueStream } from './enqueue-stream.js';
import { RotaError, refuseUnsendable, toRotaError } from './errors.js';
import { arrayArgument, objectArgument, shown, stringArgument } from './input-shapes.js';
import type { Span } from '@opentelemetry/api';
import {
  SpanKind,
  endSpan,
  headersWithSpan,
  messagingAttributes,
  startSpan,
} from '../src/telemetry/tracing.js';
import { MAX_HEADERS } from '../src/broker/validation.js';
import { MIN_REQUEST_MESSAGES } from '../src/grpc/request-bounds.js';
import { messageGroups } from './message-groups.js';
import { toEnqueueRequest, toJobInfo, type JobInfo, type JobInput, type JobState } from './job.js';

export interface ProducerOptions extends ConnectionOptions {
  /**
   * Most jobs in one batch (coalesced `enqueue()` calls and chunks of
   * `enqueueBatch()`); a batch also holds at most 4 MiB of payloads, headers
   * and names (a larger job goes alone). When the broker's limit
   * (ROTA_MAX_BATCH_SIZE, default 1000) is lower, batches hold at most that
   * many: each answer on the enqueue stream states it, and a batch over it
   * sent before an answer came is refused whole and resent in parts. It holds
   * for the stream it came on: on a new one (the broker restarted, or another
   * behind the same address) batches go back to `maxBatch` until an answer
   * states a lower limit. Before an answer states one, batches hold at most
   * UNSTATED_BATCH_LIMIT (1,449) jobs.
   * @default 500
   */
  maxBatch?: number;
  /**
   * Deadline of each call in ms (getJob, cancel) and of each batch's answer
   * on the enqueue stream, at most 2^31 − 1 (24.8 days). @default none
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

/**
 * Most bytes of payloads and strings (headers, names, keys) of one batch
 * message; a job larger than this still goes, alone. The broker receives
 * messages up to 16 MiB (or twice its payload limit, so one job within that
 * limit always fits): batches of many large jobs could pass it, and a message
 * the broker cannot receive is refused whole, every job of it, and cuts the
 * stream at once, leaving the fate of the batches sent before it without an
 * answer unknown (see enqueue-stream.ts). The margin covers the other fields.
 */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * A job over this many bytes could pass the broker's receive limit (16 MiB
 * at least) when it is over the payload limit as well, and the stream would be
 * cut, the batches sent before it without an answer left of unknown fate. It
 * goes by a unary Enqueue of its own, whose refusal is its caller's alone.
 */
const MAX_STREAMED_JOB_BYTES = 15 * 1024 * 1024;

/**
 * Most jobs of a batch sent before the broker stated its batch limit. A
 * request over the sub-messages a broker decodes is refused whole and ends
 * the stream, where a batch only over the batch limit is refused and resent
 * in parts: so a batch holds no more jobs than fit any broker's bound with the
 * most sub-messages a job can carry (itself, its backoff, its headers and the
 * three the protocol adds). A stated limit fits its broker's bound.
 */
export const UNSTATED_BATCH_LIMIT = Math.floor(MIN_REQUEST_MESSAGES / (2 + MAX_HEADERS + 3));

function compileOptions(options: ProducerOptions): CompiledProducerOptions {
  const maxBatch = options.maxBatch ?? 500;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new TypeError(`Producer: maxBatch must be an integer ≥ 1, got ${shown(maxBatch)}`);
  }
  return Object.freeze({ maxBatch, timeoutMs: checkTimeoutMs('Producer', options.timeoutMs) });
}

interface Waiter {
  readonly request: EnqueueRequest;
  resolve(result: EnqueueResult): void;
  reject(err: RotaError): void;
}

/** Bytes of a job's payload and strings: its size on the wire, but for a few bytes a field. */
function jobBytes(request: EnqueueRequest): number {
  let bytes =
    Buffer.byteLength(request.payload ?? '') +
    Buffer.byteLength(request.tenant ?? '') +
    Buffer.byteLength(request.queue ?? '') +
    Buffer.byteLength(request.idempotency_key ?? '');
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  return bytes;
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
 * The request of a job, checked whole before it joins a batch (see
 * toEnqueueRequest), and a PRODUCER span; the span's context travels in the
 * job's headers (W3C traceparent/tracestate), so the broker's and the
 * worker's spans join the trace. A job refused here was never sent: it gets
 * no span.
 */
function prepare(job: JobInput): { request: EnqueueRequest; span: Span } | { error: RotaError } {
  let request: EnqueueRequest;
  try {
    request = refuseUnsendable(() => toEnqueueRequest(objectArgument('job', job)));
  } catch (err) {
    return { error: err as RotaError };
  }
  const span = startSpan(`send ${job.queue}`, SpanKind.PRODUCER, messagingAttributes('send', job));
  request.headers = headersWithSpan(request.headers, span);
  return { request, span };
}

/**
 * The job a getJob or cancel names. protobuf would send tenant 42 as '42' and
 * a job id ['…'] as the id: anything but strings is refused, as in jobs.
 */
function jobAddress(tenant: string, jobId: string): { tenant: string; job_id: string } {
  return refuseUnsendable(() => ({
    tenant: stringArgument('tenant', tenant),
    job_id: stringArgument('jobId', jobId),
  }));
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
  #closing: Promise<void> | undefined;

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
      if (this.#waiting.length >= this.#batchLimit) this.#flush();
      else this.#flushScheduled ??= setImmediate(() => this.#flush());
    });
    result.then(
      (outcome) => endSendSpan(span, outcome),
      (error: unknown) => endSendSpan(span, { error: toRotaError(error) }),
    );
    return result;
  }

  /**
   * Stores many jobs (in messages of at most `maxBatch` jobs and 4 MiB). The
   * items are independent, as in EnqueueBatch: there is no all-or-nothing
   * either way. Every item gets its own outcome, in input order: its id, or
   * `{ error }` (the item's own error, or the error of its batch when that
   * whole batch failed). Never rejects for a broker failure, so no stored
   * job's id is lost.
   */
  async enqueueBatch(jobs: readonly JobInput[]): Promise<EnqueueBatchItem[]> {
    if (this.#closed) throw closedError();
    // Not an item's error: there are no items to answer it for.
    refuseUnsendable(() => arrayArgument('jobs', jobs, 'an array of jobs ({ tenant, queue, … })'));
    // Tracked whole: close() waits for its later parts too, which would
    // otherwise go out on the stream it has ended.
    return this.#track(this.#enqueueBatch(jobs));
  }

  async #enqueueBatch(jobs: readonly JobInput[]): Promise<EnqueueBatchItem[]> {
    const out = new Array<EnqueueBatchItem>(jobs.length);
    const spans = new Array<Span | undefined>(jobs.length);
    const sendable: Array<{ index: number; request: EnqueueRequest }> = [];
    jobs.forEach((job, index) => {
      const prepared = prepare(job);
      if ('error' in prepared) {
        out[index] = prepared;
        return;
      }
      spans[index] = prepared.span;
      sendable.push({ index, request: prepared.request });
    });
    // One batch after the other, so the jobs are stored (and run) in the order given.
    for (const batch of messageGroups(
      sendable,
      (item) => jobBytes(item.request),
      MAX_BATCH_BYTES,
      this.#batchLimit,
    )) {
      try {
        const results = await this.#send(batch.map((item) => item.request));
        batch.forEach(({ index }, i) => (out[index] = itemOutcome(results[i])));
      } catch (err) {
        const error = toRotaError(err);
        for (const { index } of batch) out[index] = { error };
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
    const address = jobAddress(tenant, jobId);
    const job = await this.#track(
      unary<Parameters<typeof toJobInfo>[0]>(this.#connection, this.#options.timeoutMs, (...call) =>
        this.#connection.client.GetJob(address, ...call),
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
    const address = jobAddress(tenant, jobId);
    const reply = await this.#track(
      unary<CancelJobResponse__Output>(this.#connection, this.#options.timeoutMs, (...call) =>
        this.#connection.client.CancelJob(address, ...call),
      ),
    );
    return { cancelled: reply.cancelled, state: reply.state };
  }

  /** Sends what is still waiting to be coalesced, waits for calls under way, then closes the channel. */
  close(): Promise<void> {
    // Every caller waits for the one close: a second one that resolved at once
    // let a shutdown path exit before the jobs under way were stored.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#flush();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#stream.close();
    this.#connection.client.close();
  }

  #flush(): void {
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const batch of messageGroups(
      waiting,
      (waiter) => jobBytes(waiter.request),
      MAX_BATCH_BYTES,
      this.#batchLimit,
    )) {
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

  /** Tracked whole, resends included, so close() waits for them. */
  #send(jobs: EnqueueRequest[]): Promise<EnqueueResult__Output[]> {
    return this.#track(this.#store(jobs));
  }

  /**
   * Most jobs of a batch now: maxBatch, or the lower limit the broker of the
   * open stream stated, or UNSTATED_BATCH_LIMIT before one did.
   */
  get #batchLimit(): number {
    return Math.min(this.#options.maxBatch, this.#stream.batchLimit ?? UNSTATED_BATCH_LIMIT);
  }

  /**
   * One result per job, in order. A batch over the broker's limit (one made
   * before an answer stated it, or refused as over it) is sent in parts, one
   * after the other to keep the order; a refused batch stored nothing.
   */
  async #store(jobs: EnqueueRequest[]): Promise<EnqueueResult__Output[]> {
    const [first] = jobs;
    if (first !== undefined && jobs.length === 1 && jobBytes(first) > MAX_STREAMED_JOB_BYTES) {
      const { job_id, duplicate } = await unary<EnqueueResponse__Output>(
        this.#connection,
        this.#options.timeoutMs,
        (...call) => this.#connection.client.Enqueue(first, ...call),
      );
      return [{ job_id, duplicate, code: grpc.status.OK, error: '' }];
    }
    let limit = this.#batchLimit;
    if (jobs.length <= limit) {
      const { results, batchLimit } = await this.#stream.send(jobs);
      if (batchLimit === undefined || jobs.length <= batchLimit) return results;
      // Refused whole. Its own answer's limit, not the open stream's: that
      // stream may have ended since, and a new one not yet stated any.
      limit = batchLimit;
    }
    const results: EnqueueResult__Output[] = [];
    for (let start = 0; start < jobs.length;) {
      const part = jobs.slice(start, start + limit);
      start += part.length;
      results.push(...(await this.#store(part)));
    }
    return results;
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
