/**
 * Errors of the Rota clients.
 *
 * - `RotaError`: a call to the broker failed; `code` is the gRPC status code
 *   (see the table at the top of rota.proto), `codeName` its name.
 * - `AckRefusedError`: the broker did not record a worker's Complete/Fail
 *   (stale lease, unknown job, malformed ack), or the Worker failed the job
 *   instead of sending a Complete the broker would refuse. Emitted, never thrown.
 * - `JobAbortedError`: the reason of a handler's aborted `signal`.
 * - `NonRetryableError` / `RetryAfterError`: thrown by a worker handler to steer
 *   what happens to the job.
 */
import { status } from '@grpc/grpc-js';
import { MAX_DELAY_MS } from '../src/broker/validation.js';
import { thrownMessage } from '../src/thrown-message.js';

export interface RotaErrorOptions {
  readonly cause?: unknown;
}

/** A broker call failed with a gRPC status. */
export class RotaError extends Error {
  override readonly name: string = 'RotaError';
  /** gRPC status code (`@grpc/grpc-js` `status`). */
  readonly code: number;
  /** Name of `code`, e.g. `'INVALID_ARGUMENT'`. */
  readonly codeName: string;

  constructor(code: number, message: string, options: RotaErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.codeName = statusName(code);
  }
}

/** The broker refused a worker's ack; the outcome of the attempt was not recorded. */
export class AckRefusedError extends RotaError {
  override readonly name: string = 'AckRefusedError';

  constructor(
    readonly jobId: string,
    /** `ACK_STALE`, `ACK_UNKNOWN_JOB` or `ACK_INVALID`. */
    readonly ackStatus: string,
    detail: string,
  ) {
    super(
      ackStatus === 'ACK_INVALID' ? status.INVALID_ARGUMENT : status.FAILED_PRECONDITION,
      `ack of job ${jobId} refused (${ackStatus})${detail === '' ? '' : `: ${detail}`}`,
    );
  }
}

/**
 * Why a handler's `signal` aborted (`signal.reason`). `message` is the reason:
 * `'cancelled'`, `'timeout'` or `'lease lost'` (from the broker's Cancel or a
 * refused re-attachment), or `'shutdown'` (close() ran out of grace).
 * The attempt's outcome is not reported once this fired.
 */
export class JobAbortedError extends Error {
  override readonly name: string = 'JobAbortedError';

  constructor(
    readonly jobId: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** Thrown by a handler: fail the job without retrying (it goes to the dead letter queue). */
export class NonRetryableError extends Error {
  override readonly name: string = 'NonRetryableError';

  constructor(message: string, options: RotaErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
  }
}

/**
 * Thrown by a handler: fail this attempt and run the next one after
 * `retryAfterMs` (0 to 365 days).
 */
export class RetryAfterError extends Error {
  override readonly name: string = 'RetryAfterError';
  readonly retryAfterMs: number;

  constructor(retryAfterMs: number, message?: string, options: RotaErrorOptions = {}) {
    super(
      message ?? `retry after ${retryAfterMs} ms`,
      'cause' in options ? { cause: options.cause } : undefined,
    );
    if (!(retryAfterMs >= 0 && retryAfterMs <= MAX_DELAY_MS)) {
      throw new TypeError(
        `RetryAfterError: retryAfterMs must be a number from 0 to ${MAX_DELAY_MS} (365 days), got ${retryAfterMs}`,
      );
    }
    this.retryAfterMs = Math.ceil(retryAfterMs);
  }
}

/** `'INVALID_ARGUMENT'` for 3; `'UNKNOWN'` for a code gRPC does not define. */
export function statusName(code: number): string {
  const name = (status as unknown as Record<number, string | undefined>)[code];
  return typeof name === 'string' ? name : 'UNKNOWN';
}

interface ServiceErrorLike {
  code: number;
  details?: unknown;
  message?: unknown;
}

function isServiceErrorLike(err: unknown): err is ServiceErrorLike {
  return (
    typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number'
  );
}

/**
 * Any thrown value as a `RotaError`: a `RotaError` is returned as is; a gRPC
 * `ServiceError` keeps its code and its `details` (the broker's message, without
 * grpc-js's "3 INVALID_ARGUMENT: " prefix); anything else is `UNKNOWN`.
 * The original value is the `cause`.
 */
export function toRotaError(err: unknown): RotaError {
  if (err instanceof RotaError) return err;
  if (isServiceErrorLike(err)) {
    const details =
      typeof err.details === 'string' && err.details !== ''
        ? err.details
        : typeof err.message === 'string'
          ? err.message
          : statusName(err.code);
    return new RotaError(err.code, details, { cause: err });
  }
  if (err instanceof Error) return new RotaError(status.UNKNOWN, err.message, { cause: err });
  return new RotaError(status.UNKNOWN, String(err), { cause: err });
}

/** Message of any thrown value, for Fail.message and logs; never throws. */
export const errorMessage: (err: unknown) => string = thrownMessage;

/**
 * A request that cannot be sent as asked (`build` throws a TypeError naming
 * the field) fails as the broker would answer it: a RotaError INVALID_ARGUMENT.
 */
export function refuseUnsendable<T>(build: () => T): T {
  try {
    return build();
  } catch (err) {
    throw new RotaError(status.INVALID_ARGUMENT, errorMessage(err), { cause: err });
  }
}
