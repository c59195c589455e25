import { BrokerError, invalidArgument } from './errors.js';
import { checkName, checkQueue } from './validation.js';

/** The Hello that opens a Work stream, in domain terms, and its validation. */
export const PROTOCOL_VERSION = 1;
const MAX_QUEUES_PER_SESSION = 64;
const MAX_WORKER_ID_LENGTH = 128;

/** A lease the worker still runs, which it asks the broker to re-attach. */
export interface InFlightRef {
  readonly jobId: string;
  readonly token: string;
  readonly tenant: string;
}

export interface HelloInput {
  readonly workerId: string;
  readonly queues: readonly string[];
  readonly capacity: number;
  readonly tenants: readonly string[];
  readonly inFlight: readonly InFlightRef[];
  readonly protocolVersion: number;
}

/**
 * Hello's capacity is at least 1: 0 is the field unset. A Credit may say 0: a
 * worker whose slots are all taken (by handlers it could not stop) holds its
 * leases and takes no new ones until a Credit above 0.
 */
export function checkCapacity(capacity: number, max: number, least: 0 | 1 = 1): void {
  if (!Number.isInteger(capacity) || capacity < least || capacity > max) {
    throw invalidArgument(
      `capacity is ${capacity}; it must be from ${least} to ${max} (ROTA_MAX_SESSION_CAPACITY)`,
    );
  }
}

export function checkHello(hello: HelloInput, maxCapacity: number): void {
  if (hello.protocolVersion > PROTOCOL_VERSION) {
    throw new BrokerError(
      'failed_precondition',
      `protocol_version ${hello.protocolVersion} is not supported; this broker speaks ${PROTOCOL_VERSION}. Use a matching client`,
    );
  }
  if (hello.workerId === '' || hello.workerId.length > MAX_WORKER_ID_LENGTH) {
    throw invalidArgument(`hello.worker_id must be 1 to ${MAX_WORKER_ID_LENGTH} characters`);
  }
  if (hello.queues.length === 0)
    throw invalidArgument('hello.queues is empty; name at least one queue');
  if (hello.queues.length > MAX_QUEUES_PER_SESSION) {
    throw invalidArgument(
      `hello.queues has ${hello.queues.length} queues; the limit is ${MAX_QUEUES_PER_SESSION}`,
    );
  }
  for (const queue of hello.queues) checkQueue('hello.queues[]', queue);
  for (const tenant of hello.tenants) checkName('hello.tenants[]', tenant);
  checkCapacity(hello.capacity, maxCapacity);
  // A worker holds at most its capacity. Unbounded, each ref cost a Redis
  // lookup and adoption, and 40,000 of them (480 KB) held the event loop for
  // over 10 s.
  if (hello.inFlight.length > maxCapacity) {
    throw invalidArgument(
      `hello.in_flight has ${hello.inFlight.length} leases; the limit is ${maxCapacity} (ROTA_MAX_SESSION_CAPACITY), the most a session holds: name only the leases this worker still runs`,
    );
  }
}
