import { performance } from 'node:perf_hooks';

import type * as grpc from '@grpc/grpc-js';

import type { BrokerMessage__Output } from '../src/generated/rota/v1/BrokerMessage.js';
import type { Welcome__Output } from '../src/generated/rota/v1/Welcome.js';
import type { WorkerMessage } from '../src/generated/rota/v1/WorkerMessage.js';
import { toRotaError, type RotaError } from './errors.js';

/** One Work stream to the broker: a session, from its Hello until the stream ends. */
export class WorkStream {
  welcome: Welcome__Output | undefined;
  heartbeat: NodeJS.Timeout | undefined;
  /** performance.now() of the broker's latest message (or of the session's start). */
  heardAt = performance.now();
  ended = false;
  error: RotaError | undefined;
  readonly closed: Promise<void>;
  readonly markClosed: () => void;

  constructor(
    readonly call: grpc.ClientDuplexStream<WorkerMessage, BrokerMessage__Output>,
    /** The capacity the broker was told: in Hello, then in each Credit. */
    public capacity: number,
    /** Hears a write that threw. */
    private readonly reportError: (error: Error) => void,
  ) {
    let markClosed!: () => void;
    this.closed = new Promise<void>((resolve) => (markClosed = resolve));
    this.markClosed = markClosed;
  }

  /** Writes `msg` unless the stream ended; false when it did not go out. */
  send(msg: WorkerMessage): boolean {
    if (this.ended) return false;
    try {
      this.call.write(msg);
      return true;
    } catch (err) {
      this.reportError(toRotaError(err));
      return false;
    }
  }
}
