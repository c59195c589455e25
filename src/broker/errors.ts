/**
 * Domain errors. Each has a machine code; `src/grpc/status.ts` maps the codes to
 * gRPC status codes in one table. Messages say what to fix.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'resource_exhausted'
  | 'failed_precondition'
  | 'unavailable'
  | 'internal';

export class BrokerError extends Error {
  override readonly name = 'BrokerError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const invalidArgument = (message: string): BrokerError =>
  new BrokerError('invalid_argument', message);

const SHOWN_CODE_POINTS = 80;

/**
 * A caller's value as an error message shows it: cut to 80 code points (never
 * inside a surrogate pair) and JSON-quoted, so control characters and lone
 * surrogates come out escaped rather than breaking the status line.
 */
export function quoted(value: string): string {
  // A code point is at most two units: this head holds more than enough of them.
  const points = Array.from(value.slice(0, 2 * SHOWN_CODE_POINTS + 2));
  const cut = points.length > SHOWN_CODE_POINTS;
  return JSON.stringify(cut ? points.slice(0, SHOWN_CODE_POINTS).join('') + '…' : value);
}

/**
 * Turns anything thrown below the broker into a BrokerError: Redis trouble is
 * UNAVAILABLE, Redis at its memory limit RESOURCE_EXHAUSTED (writes that add
 * data are refused, nothing was stored; see scripts.ts for what keeps running).
 */
export function coerceError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('OOM ')) {
    return new BrokerError(
      'resource_exhausted',
      "Redis is out of memory (used memory > 'maxmemory'), so nothing was stored. Retry later: workers draining the queues free memory as jobs finish and their retention (ROTA_COMPLETED_RETENTION_MS) runs out; or raise Redis maxmemory",
      { cause: error },
    );
  }
  if (REDIS_NOT_NOW.test(message)) {
    return new BrokerError(
      'unavailable',
      `Redis refused the call without running it (${message}); retry later`,
      { cause: error },
    );
  }
  if (REDIS_NO_REPLY.test(message)) {
    return new BrokerError(
      'unavailable',
      `Redis is unreachable (${message}): the call may still take effect when Redis answers; retry it (an Enqueue retried with the same idempotency_key stores its job once; GetJob tells whether it was stored)`,
      { cause: error },
    );
  }
  if (isRedisUnavailable(error)) {
    return new BrokerError('unavailable', `Redis is unreachable (${message}); retry later`, {
      cause: error,
    });
  }
  return new BrokerError('internal', message, { cause: error });
}

/**
 * Redis is up but refuses commands for now, without running them: busy with
 * a slow script (another client's), loading its data, a replica (READONLY,
 * after a failover demoted it), or unable to persist or replicate. The
 * connection stays open, so these are no outage to ioredis; still the call
 * should be retried, not reported as the broker's own fault.
 */
const REDIS_NOT_NOW = /(?:^|\s)(?:BUSY|LOADING|READONLY|MASTERDOWN|NOREPLICAS|MISCONF|TRYAGAIN) /;

/**
 * No reply within ROTA_REDIS_TIMEOUT_MS: the call may sit unread in a hung
 * Redis, which runs it when it wakes (the give-up of abandon_call.lua reaches
 * it only after), so whether it took effect is unknown.
 */
const REDIS_NO_REPLY = /Command timed out|Socket timeout/;

/** Awaits a store call, its failure turned into a BrokerError (see coerceError). */
export async function guarded<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw coerceError(error);
  }
}

function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|MaxRetriesPerRequest/i.test(
      error.message,
    )
  );
}
