import { status, type ServiceError } from '@grpc/grpc-js';
import { coerceError, type ErrorCode } from '../broker/errors.js';

/** The one table from domain error codes to gRPC status codes. */
export const STATUS_OF: Readonly<Record<ErrorCode, status>> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  failed_precondition: status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  internal: status.INTERNAL,
};

export function toServiceError(error: unknown): Partial<ServiceError> {
  const domain = coerceError(error);
  return withDetails(STATUS_OF[domain.code], domain.message);
}

/**
 * A status with its message. grpc-js percent-encodes the message with
 * encodeURI, which throws on a lone surrogate and takes the process down with
 * it; a message can carry one from a caller's string (protobuf decodes invalid
 * UTF-8 that way) or from an error below, so each is replaced with U+FFFD here.
 */
export function withDetails(code: status, message: string): Partial<ServiceError> {
  const details = message.replace(/\p{Cs}/gu, '\uFFFD');
  return { code, details, message: details };
}
