/**
 * The Producer's side of EnqueueStream: one bidirectional stream carries every
 * batch, each tagged with a request id and answered by id. The stream opens on
 * the first batch; when it fails, the batches it had not answered are rejected
 * with its status and the next batch opens a new one. Whether those unanswered
 * jobs were stored is unknown, as after a unary deadline: retry them with the
 * same idempotency keys. Each answer states the broker's batch limit, which
 * belongs to the stream it came on: the broker a new stream reaches (restarted,
 * or another behind the same address) may have another.
 */
import * as grpc from '@grpc/grpc-js';

import type { EnqueueRequest } from '../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResult__Output } from '../src/generated/rota/v1/EnqueueResult.js';
import type { EnqueueStreamRequest } from '../src/generated/rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse__Output } from '../src/generated/rota/v1/EnqueueStreamResponse.js';
import type { Connection } from './connection.js';
import { RotaError, toRotaError } from './errors.js';

/** The answer to one batch. */
export interface BatchAnswer {
  /** One per job, in order. */
  readonly results: EnqueueResult__Output[];
  /** The broker's batch limit; a batch over it was refused whole. Undefined: not said. */
  readonly batchLimit: number | undefined;
}

interface Pending {
  resolve(answer: BatchAnswer): void;
  reject(error: RotaError): void;
  timer: NodeJS.Timeout | undefined;
}

interface OpenStream {
  readonly call: grpc.ClientDuplexStream<EnqueueStreamRequest, EnqueueStreamResponse__Output>;
  readonly pending: Map<string, Pending>;
  /** Resolves when the stream has its status (whatever it is). */
  readonly closed: Promise<void>;
  /** The batch limit its latest answer stated; undefined until one does. */
  batchLimit: number | undefined;
}

const CLOSE_WAIT_MS = 5000;

export class EnqueueStream {
  #stream: OpenStream | undefined;
  #nextId = 1;

  constructor(
    private readonly connection: Connection,
    /** Answer deadline of each batch in ms; undefined = none. */
    private readonly timeoutMs: number | undefined,
  ) {}

  /**
   * The batch limit the broker of the open stream stated; undefined while no
   * stream is open, or none of its answers has come.
   */
  get batchLimit(): number | undefined {
    return this.#stream?.batchLimit;
  }

  /** Sends one batch; resolves with its answer. */
  send(jobs: EnqueueRequest[]): Promise<BatchAnswer> {
    const stream = (this.#stream ??= this.#open());
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined };
      if (this.timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          stream.pending.delete(id);
          reject(
            new RotaError(
              grpc.status.DEADLINE_EXCEEDED,
              `no answer from the broker within ${this.timeoutMs} ms; the jobs may have been stored: retry with the same idempotency keys`,
            ),
          );
        }, this.timeoutMs);
      }
      stream.pending.set(id, pending);
      stream.call.write({ request_id: id, jobs });
    });
  }

  /**
   * Half-closes the stream (call it once its batches are answered) and waits
   * for its status, at most CLOSE_WAIT_MS: a broker that does not answer is
   * then cut off.
   */
  async close(): Promise<void> {
    const stream = this.#stream;
    if (stream === undefined) return;
    stream.call.end();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([stream.closed, gaveUp]);
    clearTimeout(timer);
    stream.call.cancel();
  }

  #open(): OpenStream {
    const call = this.connection.client.EnqueueStream(this.connection.metadata());
    const pending = new Map<string, Pending>();
    let markClosed!: () => void;
    const stream: OpenStream = {
      call,
      pending,
      closed: new Promise((resolve) => (markClosed = resolve)),
      batchLimit: undefined,
    };
    const failAll = (error: RotaError): void => {
      if (this.#stream === stream) this.#stream = undefined;
      for (const waiter of pending.values()) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
      pending.clear();
    };
    call.on('data', (response: EnqueueStreamResponse__Output) => {
      const batchLimit = response.max_batch_size || undefined; // 0: a broker older than the field
      stream.batchLimit = batchLimit;
      const waiter = pending.get(response.request_id);
      if (waiter === undefined) return; // timed out already
      pending.delete(response.request_id);
      clearTimeout(waiter.timer);
      waiter.resolve({ results: response.results, batchLimit });
    });
    call.on('error', (error: grpc.ServiceError) => failAll(streamError(error)));
    call.on('status', (status: grpc.StatusObject) => {
      failAll(
        new RotaError(
          grpc.status.UNAVAILABLE,
          `the enqueue stream ended (${grpc.status[status.code]}) before answering; the jobs may have been stored: retry with the same idempotency keys`,
        ),
      );
      markClosed();
    });
    return stream;
  }
}

/**
 * The stream's failure as the callers of its batches see it. We never cancel
 * the stream ourselves, so CANCELLED means the broker went away mid-call
 * (a crash or a forced shutdown): as retryable as a refused connection.
 */
function streamError(error: grpc.ServiceError): RotaError {
  if (error.code !== grpc.status.CANCELLED) return toRotaError(error);
  return new RotaError(
    grpc.status.UNAVAILABLE,
    `the broker cut the enqueue stream (${error.details}); the jobs may have been stored: retry with the same idempotency keys`,
    { cause: error },
  );
}
