/**
 * Requests whose bytes do not decode, or that the broker will not decode.
 * grpc-js answers a throwing deserializer with INTERNAL by itself, without
 * telling the handler; on a Work stream it then hung the call whenever the
 * broker wrote to it afterwards (bug B1 of test/fuzz/known-bugs.test.ts).
 * Decoding that never throws hands the handler a marker instead, so it ends
 * the call itself with the marker's error.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

import { BrokerError } from '../broker/errors.js';
import { loadRotaPackageDefinition } from './proto.js';
import { boundPassed, schemaOf, type RequestBounds } from './request-bounds.js';

export class UndecodableMessage {
  constructor(
    /** Fully qualified message type, e.g. `rota.v1.WorkerMessage`. */
    readonly type: string,
    readonly reason: string,
  ) {}

  get description(): string {
    return `the request does not decode as ${this.type} (${this.reason}); send a valid protobuf message`;
  }

  /** What the call ends with (INVALID_ARGUMENT). */
  toError(): BrokerError {
    return new BrokerError('invalid_argument', this.description);
  }
}

/** A request past the broker's decoding bounds (request-bounds.ts), left undecoded. */
export class OverBoundRequest extends UndecodableMessage {
  constructor(
    type: string,
    readonly bound: keyof RequestBounds,
    readonly limit: number,
  ) {
    super(type, `more than ${limit} ${bound}`);
  }

  override get description(): string {
    const what =
      this.bound === 'messages' ? 'messages (jobs, header entries, leases, acks…)' : 'fields';
    return `the request (${this.type}) holds more than ${this.limit} ${what}, the most the broker decodes in one request: split it into smaller requests`;
  }

  /** RESOURCE_EXHAUSTED, as for a message over the size limit. */
  override toError(): BrokerError {
    return new BrokerError('resource_exhausted', this.description);
  }
}

/**
 * The same service, with request decoders that return an UndecodableMessage
 * instead of throwing, and an OverBoundRequest for a request past `bounds`.
 */
export function withTolerantDecoding<T extends ServiceDefinition>(
  service: T,
  bounds: RequestBounds,
): T {
  const schema = schemaOf(loadRotaPackageDefinition());
  const tolerant: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(service)) {
    const type = requestTypeName(method);
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        const passed = boundPassed(bytes, type, schema, bounds);
        if (passed !== undefined) return new OverBoundRequest(type, passed, bounds[passed]);
        try {
          return method.requestDeserialize(bytes) as unknown;
        } catch (error) {
          return new UndecodableMessage(type, (error as Error).message);
        }
      },
    };
  }
  return tolerant as unknown as T;
}

function requestTypeName(method: ServiceDefinition[string]): string {
  const type = (method as { requestType?: { type?: { name?: string } } }).requestType?.type?.name;
  return type ? `rota.v1.${type}` : `the request of ${method.path}`;
}
