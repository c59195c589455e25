/** The job as producers describe it (`JobInput`) and read it back (`JobInfo`). */
import type { EnqueueRequest } from '../src/generated/rota/v1/EnqueueRequest.js';
import type { Job__Output } from '../src/generated/rota/v1/Job.js';
import type { JobState__Output } from '../src/generated/rota/v1/JobState.js';
import { decodePayload, decodeReported, encodePayload } from './codec.js';
import {
  checkHeaders,
  checkIdempotencyKey,
  checkName,
  checkQueue,
} from '../src/broker/validation.js';
import { objectArgument, shown, stringArgument, stringRecord } from './input-shapes.js';
import { wireInteger } from './wire-integers.js';

/** State of a job (rota.v1.JobState). Terminal: COMPLETED, DEAD, CANCELLED. */
export type JobState = JobState__Output;

export interface JobInput {
  /** Owner of the job, `[A-Za-z0-9_.-]{1,64}`. */
  tenant: string;
  /** Kind of work; workers subscribe to queues. Same charset; `job` and `idem` are reserved. */
  queue: string;
  /**
   * Job data. Buffer/Uint8Array is sent as is; anything else as JSON (with the
   * header `content-type: application/json`), which the Worker parses back.
   */
  payload?: unknown;
  /** 0–9, higher first within the tenant's turn. @default 0 */
  priority?: number;
  /** Attempts before the dead letter queue, 1–1000. @default broker default (3) */
  maxAttempts?: number;
  /** Retry backoff (exponential, full jitter). @default broker defaults */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Longest run time of one attempt; the worker's signal aborts when it passes. @default no limit */
  timeoutMs?: number;
  /** Run no earlier than this many ms from now. @default 0 */
  delayMs?: number;
  /** Deduplication key (≤ 256 chars, scoped to the tenant). */
  idempotencyKey?: string;
  /**
   * Delivered with the lease; carries trace context. At most 64 entries and
   * 8 KiB, not counting the `content-type`, `traceparent` and `tracestate`
   * the Producer adds (up to 512 bytes each).
   */
  headers?: Record<string, string>;
}

/** The job record, decoded. Timestamps are Unix ms. */
export interface JobInfo {
  id: string;
  tenant: string;
  queue: string;
  state: JobState;
  /** Decoded like the worker does (JSON per content-type, else bytes). */
  payload: unknown;
  rawPayload: Buffer;
  priority: number;
  /** Attempts started so far. */
  attempts: number;
  maxAttempts: number;
  /** 0 = no limit. */
  timeoutMs: number;
  idempotencyKey: string;
  headers: Record<string, string>;
  /** Last progress reported by the worker, decoded as the result is; undefined when none. */
  progress: unknown;
  /**
   * Result of the successful attempt: what the handler returned, a Buffer as a
   * Buffer, anything else JSON-decoded; undefined when none.
   */
  result: unknown;
  /** Error of the last failed attempt ('' when none). */
  lastError: string;
  backoff: { initialMs: number; maxMs: number };
  createdAt: number;
  /** When the job becomes (or became) runnable. */
  runAt: number;
  /** Start of the current or last lease; undefined before the first. */
  leasedAt: number | undefined;
  /** When the job reached a terminal state; undefined until then. */
  finishedAt: number | undefined;
}

/**
 * The wire request of one JobInput. Throws, naming the field, when a field
 * is not of its type, the payload is not encodable, a number does not fit its
 * wire field, or the broker would refuse the tenant, the queue, the
 * idempotency key or the headers. Their sizes are the caller's to choose, and
 * the Producer sends jobs together: a job far past those limits could make
 * the message pass what the broker receives or decodes, which refuses every
 * job of that message and ends the stream, so it is refused here, alone.
 */
export function toEnqueueRequest(job: JobInput): EnqueueRequest {
  const { payload, headers } = encodeJobPayload(job);
  return {
    tenant: checkName('tenant', stringArgument('tenant', job.tenant)),
    queue: checkQueue('queue', stringArgument('queue', job.queue)),
    payload,
    headers: checkHeaders(headers),
    priority: wireInteger('priority', job.priority ?? 0, 'int32'),
    max_attempts: wireInteger('maxAttempts', job.maxAttempts ?? 0, 'uint32'),
    backoff: job.backoff === undefined ? null : toWireBackoff(job.backoff),
    timeout_ms: wireInteger('timeoutMs', job.timeoutMs ?? 0, 'uint32'),
    delay_ms: wireInteger('delayMs', job.delayMs ?? 0, 'uint64'),
    idempotency_key: checkIdempotencyKey('idempotencyKey', idempotencyKey(job.idempotencyKey)),
  };
}

/**
 * The key, '' for none. protobuf would send any other value as String(value):
 * every object key as '[object Object]', all of them duplicates of the first.
 */
function idempotencyKey(key: unknown): string {
  if (key === undefined || key === null) return '';
  if (typeof key !== 'string') {
    throw new TypeError(`idempotencyKey must be a string, got ${shown(key)}`);
  }
  return key;
}

/** From JavaScript a backoff that is not an object (`backoff: 1000`) would send the broker's defaults. */
function toWireBackoff(given: JobInput['backoff']): EnqueueRequest['backoff'] {
  const backoff = objectArgument<NonNullable<JobInput['backoff']>>('backoff', given);
  return {
    initial_ms: wireInteger('backoff.initialMs', backoff.initialMs ?? 0, 'uint32'),
    max_ms: wireInteger('backoff.maxMs', backoff.maxMs ?? 0, 'uint32'),
  };
}

/** Headers, when given, must be an object of strings: an array would be spread as { 0: …, 1: … }. */
function encodeJobPayload(job: JobInput): ReturnType<typeof encodePayload> {
  const headers = job.headers === undefined ? undefined : stringRecord('headers', job.headers);
  try {
    return encodePayload(job.payload, headers);
  } catch (err) {
    throw new TypeError(`payload: ${(err as Error).message}`, { cause: err });
  }
}

function decodePayloadSafely(bytes: Buffer, headers: Record<string, string>): unknown {
  try {
    return decodePayload(bytes, headers);
  } catch {
    return bytes;
  }
}

function optionalTime(ms: string): number | undefined {
  const n = Number(ms);
  return n > 0 ? n : undefined;
}

export function toJobInfo(job: Job__Output): JobInfo {
  return {
    id: job.id,
    tenant: job.tenant,
    queue: job.queue,
    state: job.state,
    payload: decodePayloadSafely(job.payload, job.headers),
    rawPayload: job.payload,
    priority: job.priority,
    attempts: job.attempts,
    maxAttempts: job.max_attempts,
    timeoutMs: job.timeout_ms,
    idempotencyKey: job.idempotency_key,
    headers: job.headers,
    progress: decodeReported(job.progress, job.progress_content_type),
    result: decodeReported(job.result, job.result_content_type),
    lastError: job.last_error,
    backoff: { initialMs: job.backoff?.initial_ms ?? 0, maxMs: job.backoff?.max_ms ?? 0 },
    createdAt: Number(job.created_at_unix_ms),
    runAt: Number(job.run_at_unix_ms),
    leasedAt: optionalTime(job.leased_at_unix_ms),
    finishedAt: optionalTime(job.finished_at_unix_ms),
  };
}
