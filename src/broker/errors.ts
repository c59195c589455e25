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

/** Turns anything thrown below the broker into a BrokerError; Redis trouble is UNAVAILABLE. */
export function coerceError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isRedisUnavailable(error)) {
    return new BrokerError('unavailable', `Redis is unreachable (${message}); retry later`, {
      cause: error,
    });
  }
  return new BrokerError('internal', message, { cause: error });
}

function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|MaxRetriesPerRequest|LOADING|READONLY/i.test(
      error.message,
    )
  );
}
