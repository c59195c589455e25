import { invalidArgument, quoted } from './errors.js';
import { newJobId } from './ids.js';
import { RESERVED_QUEUE_NAMES } from '../store/keys.js';
import type { NewJob } from '../store/types.js';

/**
 * An Enqueue request in domain terms (the gRPC edge fills it): the job to
 * store, before it has an id, and with a delay where the store keeps a run time.
 */
export interface EnqueueInput extends Omit<NewJob, 'id' | 'runAt' | 'createdAt'> {
  readonly delayMs: number;
}

export interface EnqueueLimits {
  readonly maxPayloadBytes: number;
  readonly defaultMaxAttempts: number;
  readonly defaultBackoffInitialMs: number;
  readonly defaultBackoffMaxMs: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const DAY_MS = 24 * 60 * 60 * 1000;
export const MAX_PRIORITY = 9;
export const MAX_ATTEMPTS = 1000;
export const MAX_DELAY_MS = 365 * DAY_MS;
export const MAX_TIMEOUT_MS = 7 * DAY_MS;
/** Characters of a Fail's message stored on the job; the rest is cut. */
export const MAX_ERROR_LENGTH = 4096;
export const MAX_BACKOFF_MS = 7 * DAY_MS;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
export const MAX_HEADERS = 64;
export const MAX_HEADER_BYTES = 8 * 1024;
/** Bytes of a Progress.data the broker stores; it refuses a larger one (ACK_INVALID). */
export const MAX_PROGRESS_BYTES = 64 * 1024;

export const isName = (value: string): boolean => NAME.test(value);

/** Checks a tenant id or queue name; `what` names the field in the error. */
export function checkName(what: string, value: string): string {
  if (!isName(value)) {
    const shown = value === '' ? 'empty' : quoted(value);
    throw invalidArgument(`${what} is ${shown}; it must match [A-Za-z0-9_.-]{1,64}`);
  }
  return value;
}

/** Checks a queue name, which is a name that is not one of RESERVED_QUEUE_NAMES. */
export function checkQueue(what: string, value: string): string {
  checkName(what, value);
  if (RESERVED_QUEUE_NAMES.includes(value)) {
    throw invalidArgument(
      `${what} is ${quoted(value)}, which Rota's own keys use; the names ${RESERVED_QUEUE_NAMES.map(quoted).join(' and ')} are reserved, pick another`,
    );
  }
  return value;
}

function checkRange(what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${what} is ${value}; it must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Validates an Enqueue and fills defaults. Throws INVALID_ARGUMENT naming the field. */
export function toNewJob(input: EnqueueInput, limits: EnqueueLimits, now: number): NewJob {
  checkName('tenant', input.tenant);
  checkQueue('queue', input.queue);
  if (input.payload.length > limits.maxPayloadBytes) {
    throw invalidArgument(
      `payload is ${input.payload.length} bytes; the limit is ${limits.maxPayloadBytes} (ROTA_MAX_PAYLOAD_BYTES). Store large data elsewhere and enqueue a reference`,
    );
  }
  checkRange('priority', input.priority, 0, MAX_PRIORITY);
  const maxAttempts = input.maxAttempts || limits.defaultMaxAttempts;
  checkRange('max_attempts', maxAttempts, 1, MAX_ATTEMPTS);
  // A max below the default initial delay, given alone, lowers the initial to it.
  const backoffInitialMs =
    input.backoffInitialMs ||
    Math.min(limits.defaultBackoffInitialMs, input.backoffMaxMs || Infinity);
  const backoffMaxMs = input.backoffMaxMs || Math.max(limits.defaultBackoffMaxMs, backoffInitialMs);
  checkRange('backoff.initial_ms', backoffInitialMs, 1, MAX_BACKOFF_MS);
  checkRange('backoff.max_ms', backoffMaxMs, 1, MAX_BACKOFF_MS);
  if (backoffInitialMs > backoffMaxMs) {
    throw invalidArgument(
      `backoff.initial_ms (${backoffInitialMs}) must not exceed backoff.max_ms (${backoffMaxMs})`,
    );
  }
  checkRange('timeout_ms', input.timeoutMs, 0, MAX_TIMEOUT_MS);
  checkRange('delay_ms', input.delayMs, 0, MAX_DELAY_MS);
  checkIdempotencyKey('idempotency_key', input.idempotencyKey);
  checkHeaders(input.headers);
  return {
    id: newJobId(now),
    tenant: input.tenant,
    queue: input.queue,
    payload: input.payload,
    priority: input.priority,
    maxAttempts,
    backoffInitialMs,
    backoffMaxMs,
    timeoutMs: input.timeoutMs,
    runAt: now + input.delayMs,
    idempotencyKey: input.idempotencyKey,
    headers: input.headers,
    createdAt: now,
  };
}

/** Checks an idempotency key's length ('' is none); `what` names the field in the error. */
export function checkIdempotencyKey(what: string, key: string): string {
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidArgument(
      `${what} is ${key.length} characters; the limit is ${MAX_IDEMPOTENCY_KEY_LENGTH}`,
    );
  }
  return key;
}

/**
 * Headers the protocol itself sets (the payload's media type, the W3C trace
 * context): clients add them to the caller's headers, so counting them would
 * refuse a caller who stays within the limits they were told. Each is exempt
 * only up to PROTOCOL_HEADER_MAX_BYTES (a W3C tracestate is at most 512), so
 * they cannot carry unbounded data past the limits; a longer one counts.
 */
const PROTOCOL_HEADERS: readonly string[] = ['content-type', 'traceparent', 'tracestate'];
const PROTOCOL_HEADER_MAX_BYTES = 512;
const NOT_COUNTED = `${PROTOCOL_HEADERS.join(', ')} of up to ${PROTOCOL_HEADER_MAX_BYTES} bytes not counted`;

/** Checks a job's headers against MAX_HEADERS and MAX_HEADER_BYTES (protocol headers aside). */
export function checkHeaders<T extends Readonly<Record<string, string>>>(headers: T): T {
  let count = 0;
  let bytes = 0;
  for (const name of Object.keys(headers)) {
    if (name === '') throw invalidArgument('headers has an empty name');
    const size = Buffer.byteLength(headers[name]!);
    if (PROTOCOL_HEADERS.includes(name) && size <= PROTOCOL_HEADER_MAX_BYTES) continue;
    count++;
    bytes += Buffer.byteLength(name) + size;
  }
  if (count > MAX_HEADERS) {
    throw invalidArgument(
      `headers has ${count} entries; the limit is ${MAX_HEADERS} (${NOT_COUNTED})`,
    );
  }
  if (bytes > MAX_HEADER_BYTES) {
    throw invalidArgument(
      `headers are ${bytes} bytes in all; the limit is ${MAX_HEADER_BYTES} (${NOT_COUNTED})`,
    );
  }
  return headers;
}
