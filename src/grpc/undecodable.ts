/**
 * Requests whose bytes do not decode. grpc-js answers a throwing deserializer
 * with INTERNAL by itself, without telling the handler; on a Work stream it
 * then hung the call whenever the broker wrote to it afterwards (bug B1 of
 * test/fuzz/known-bugs.test.ts). Decoding that never throws hands the handler
 * a marker instead, so it ends the call itself with INVALID_ARGUMENT.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

export class UndecodableMessage {
  constructor(
    /** Fully qualified message type, e.g. `rota.v1.WorkerMessage`. */
    readonly type: string,
    readonly reason: string,
  ) {}

  get description(): string {
    return `the request does not decode as ${this.type} (${this.reason}); send a valid protobuf message`;
  }
}

/** The same service, with request decoders that return UndecodableMessage instead of throwing. */
export function withTolerantDecoding<T extends ServiceDefinition>(service: T): T {
  const tolerant: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(service)) {
    const type = requestTypeName(method);
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
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
