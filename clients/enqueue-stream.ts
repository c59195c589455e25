/**
 * The Producer's side of EnqueueStream: one bidirectional stream carries every
 * batch, each tagged with a request id and answered by id. The stream opens on
 * the first batch; when it fails, the batches it had not answered are rejected
 * with its status and the next batch opens a new one. Whether those unanswered
 * jobs were stored is unknown, as after a unary deadline: retry them with the
 * same idempotency keys. A broker that shuts down gracefully drains the stream
 * instead (see src/grpc/stream-drain.ts): the batches it did not answer were
 * not read, so they go again, in their order and before any later one, on a
 * new stream once the channel reaches a broker (the next of its address
 * list), and fail as not stored when none answers. A stream the broker ends
 * for one batch it refuses (see src/grpc/stream-refusal.ts) fails that batch
 * alone with the refusal; the ones sent after it were not read and go again
 * the same way. Each answer states the
 * broker's batch limit, which belongs to the stream it came on: the broker a
 * new stream reaches (restarted, or another behind the same address) may have
 * another.
 */
import * as grpc from '@grpc/grpc-js';

import type { EnqueueRequest } from '../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResult__Output } from '../src/generated/rota/v1/EnqueueResult.js';
import type { EnqueueStreamRequest } from '../src/generated/rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse__Output } from '../src/generated/rota/v1/EnqueueStreamResponse.js';
import { loadRotaProto } from '../src/grpc/proto.js';
import { wasDrained } from '../src/grpc/stream-drain.js';
import { refusedRequest } from '../src/grpc/stream-refusal.js';
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
  readonly requestId: string;
  /** Kept to send again when the broker ended a stream without reading them. */
  readonly jobs: EnqueueRequest[];
  resolve(answer: BatchAnswer): void;
  reject(error: RotaError): void;
  timer: NodeJS.Timeout | undefined;
  /** The stream it went out on; undefined while it waits to go again. */
  stream: OpenStream | undefined;
  /** Its place among the requests written on `stream`, 1 for the first, as the broker counts them. */
  position: number;
  /** Bytes of its request as last serialized, to find the one a receive limit refused. */
  bytes: number;
}

interface OpenStream {
  readonly call: grpc.ClientDuplexStream<EnqueueStreamRequest, EnqueueStreamResponse__Output>;
  /** Resolves when the stream has its status (whatever it is). */
  readonly closed: Promise<void>;
  /** The batch limit its latest answer stated; undefined until one does. */
  batchLimit: number | undefined;
  /** Requests written on it. */
  written: number;
}

const CLOSE_WAIT_MS = 5000;

/** grpc-js watches a channel's state only until a deadline; past it, we look again. */
const STATE_WATCH_MS = 1000;

export class EnqueueStream {
  #stream: OpenStream | undefined;
  #nextId = 1;
  /** Unanswered batches by request id, in the order they were sent. */
  readonly #unanswered = new Map<string, Pending>();
  /** While batches of a drained stream wait for a broker, later ones wait behind them. */
  #resending = false;

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
    const id = String(this.#nextId++);
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        requestId: id,
        jobs,
        resolve,
        reject,
        timer: undefined,
        stream: undefined,
        position: 0,
        bytes: 0,
      };
      if (this.timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          this.#unanswered.delete(id);
          reject(
            new RotaError(
              grpc.status.DEADLINE_EXCEEDED,
              `no answer from the broker within ${this.timeoutMs} ms; the jobs may have been stored: retry with the same idempotency keys`,
            ),
          );
        }, this.timeoutMs);
      }
      this.#unanswered.set(id, pending);
      if (!this.#resending) this.#write(pending);
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

  #write(pending: Pending): void {
    const stream = (this.#stream ??= this.#open());
    pending.stream = stream;
    pending.position = ++stream.written;
    stream.call.write({ request_id: pending.requestId, jobs: pending.jobs });
  }

  #settle(pending: Pending): void {
    this.#unanswered.delete(pending.requestId);
    clearTimeout(pending.timer);
  }

  #open(): OpenStream {
    const method = loadRotaProto().rota.v1.Broker.service.EnqueueStream;
    // Serialized here rather than by the generated stub to learn each
    // request's size as it goes out (after any interceptor).
    const call = this.connection.client.makeBidiStreamRequest(
      method.path,
      (request: EnqueueStreamRequest): Buffer => {
        const bytes = method.requestSerialize(request);
        const pending = this.#unanswered.get(String(request.request_id));
        if (pending !== undefined) pending.bytes = bytes.length;
        return bytes;
      },
      method.responseDeserialize,
      this.connection.metadata(),
    );
    let markClosed!: () => void;
    const stream: OpenStream = {
      call,
      closed: new Promise((resolve) => (markClosed = resolve)),
      batchLimit: undefined,
      written: 0,
    };
    call.on('data', (response: EnqueueStreamResponse__Output) => {
      const batchLimit = response.max_batch_size || undefined; // 0: a broker older than the field
      stream.batchLimit = batchLimit;
      const waiter = this.#unanswered.get(response.request_id);
      if (waiter?.stream !== stream) return; // timed out already
      this.#settle(waiter);
      waiter.resolve({ results: response.results, batchLimit });
    });
    call.on('error', (error: grpc.ServiceError) =>
      this.#ended(stream, error.metadata, streamError(error)),
    );
    call.on('status', (status: grpc.StatusObject) => {
      this.#ended(stream, status.metadata, fateUnknown(status.code));
      markClosed();
    });
    return stream;
  }

  /**
   * The stream ended: its unanswered batches fail with `error`, but for those
   * the broker says (or gRPC's refusal shows) it did not read, which wait to
   * go again: all of them after a drain, those sent after the refused one
   * after a refusal. Only the refused batch gets the refusal: the others'
   * jobs are fine, and a refusal code (INVALID_ARGUMENT, RESOURCE_EXHAUSTED)
   * would tell their callers not to send them again.
   */
  #ended(stream: OpenStream, trailers: grpc.Metadata | undefined, error: RotaError): void {
    if (this.#stream === stream) this.#stream = undefined;
    const left = [...this.#unanswered.values()].filter((pending) => pending.stream === stream);
    if (left.length === 0) return;
    const drained = wasDrained(trailers);
    const refused = drained ? undefined : (refusedRequest(trailers) ?? overLimit(left, error));
    let unread = false;
    for (const pending of left) {
      if (drained || (refused !== undefined && pending.position > refused)) {
        pending.stream = undefined;
        unread = true;
        continue;
      }
      this.#settle(pending);
      // Before a refused one without an answer: read, perhaps stored, answer lost.
      pending.reject(
        refused === undefined || pending.position === refused ? error : fateUnknown(error.code),
      );
    }
    if (!unread) return;
    const why = drained
      ? 'the broker shut down before reading these jobs'
      : 'the broker refused a request sent before these jobs and read none of them';
    this.#resending = true;
    void brokerReachable(this.connection.client.getChannel()).then((reachable) =>
      this.#sendAgain(reachable, why),
    );
  }

  /** The batches a broker did not read go again, in order, or fail as not stored. */
  #sendAgain(reachable: boolean, why: string): void {
    this.#resending = false;
    for (const pending of [...this.#unanswered.values()]) {
      if (pending.stream !== undefined) continue;
      if (reachable) {
        this.#write(pending);
        continue;
      }
      this.#settle(pending);
      pending.reject(
        new RotaError(
          grpc.status.UNAVAILABLE,
          `${why} and no broker answers now; they were not stored: enqueue them again once a broker is up`,
        ),
      );
    }
  }
}

/**
 * The batch a receive limit refused, when `error` is that refusal. gRPC
 * refuses a message over the broker's limit before the broker's code sees it
 * ("Received message larger than max (N vs M)") and cuts the call at once, so
 * the broker cannot name it. gRPC reads a stream's messages in order and stops
 * at the first over the limit: it is the first unanswered batch whose request
 * was larger than M, and the ones sent after it were not read. Those sent
 * before it without an answer may have been read and stored, their answers
 * cut off: their fate stays unknown. When none of `left` is that large, the
 * refused one timed out already and where the others stood is unknown: the
 * position past them all makes every one of them of unknown fate.
 */
function overLimit(left: readonly Pending[], error: RotaError): number | undefined {
  if (error.code !== (grpc.status.RESOURCE_EXHAUSTED as number)) return undefined;
  const limit = /larger than max \(\d+ vs\.? (\d+)\)/.exec(error.message)?.[1];
  if (limit === undefined) return undefined;
  const over = left.filter((pending) => pending.bytes > Number(limit));
  return Math.min(Infinity, ...over.map((pending) => pending.position));
}

/** The error of a batch a stream left unanswered, with the stream's code. */
function fateUnknown(code: grpc.status): RotaError {
  return new RotaError(
    grpc.status.UNAVAILABLE,
    `the enqueue stream ended (${grpc.status[code]}) before answering; the jobs may have been stored: retry with the same idempotency keys`,
  );
}

/**
 * Resolves once the channel is connected (true) or has failed to connect to
 * any of its addresses (false), starting a connection when it has none.
 */
function brokerReachable(channel: grpc.ChannelInterface): Promise<boolean> {
  const { READY, TRANSIENT_FAILURE, SHUTDOWN } = grpc.connectivityState;
  return new Promise((resolve) => {
    const look = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === READY) resolve(true);
      else if (state === TRANSIENT_FAILURE || state === SHUTDOWN) resolve(false);
      else channel.watchConnectivityState(state, Date.now() + STATE_WATCH_MS, look);
    };
    look();
  });
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
