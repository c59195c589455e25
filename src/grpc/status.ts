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
  return { code: STATUS_OF[domain.code], details: domain.message, message: domain.message };
}
