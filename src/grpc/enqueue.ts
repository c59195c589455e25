/**
 * Enqueue of many jobs at the gRPC edge, shared by EnqueueBatch (unary) and
 * EnqueueStream (one long-lived stream, a message per batch). A gRPC message on
 * an open stream costs a fraction of a unary call (BASELINES.md: ≈ 57 µs
 * against ≈ 300 µs per job), which is what lets a producer that sends single
 * jobs keep up with a Redis-backed queue called in-process.
 */
import { status, type ServerDuplexStream, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { Broker } from '../broker/broker.js';
import { BrokerError } from '../broker/errors.js';
import type { EnqueueRequest__Output } from '../generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResult } from '../generated/rota/v1/EnqueueResult.js';
import type { EnqueueStreamRequest__Output } from '../generated/rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse } from '../generated/rota/v1/EnqueueStreamResponse.js';
import { requireTenant, toCallError, type AuthError } from './auth.js';
import { rpcOf, type Audit } from './audit.js';
import { toEnqueueInput } from './codec.js';
import { STATUS_OF } from './status.js';
import { drainedStatus, type StreamDrain } from './stream-drain.js';
import { refusedStatus } from './stream-refusal.js';
import type { Principal, TokenStore } from './tokens.js';
import { UndecodableMessage } from './undecodable.js';

/**
 * Requests of one stream being stored at once. Past it the broker stops
 * reading the stream (HTTP/2 flow control then holds the producer back), so a
 * fast producer cannot queue unbounded work in the broker's memory.
 */
export const MAX_UNANSWERED_REQUESTS = 64;

/** Refuses a batch over the limit as a whole: it is a client bug, not an item error. */
export function checkBatchSize(jobs: number, maxBatchSize: number): void {
  const error = batchSizeError(jobs, maxBatchSize);
  if (error !== undefined) throw error;
}

function batchSizeError(jobs: number, maxBatchSize: number): BrokerError | undefined {
  if (jobs <= maxBatchSize) return undefined;
  return new BrokerError(
    'invalid_argument',
    `jobs has ${jobs} items; the limit is ${maxBatchSize} (ROTA_MAX_BATCH_SIZE). Split the batch`,
  );
}

/**
 * Largest answer built to refuse a stream request item by item. Every item
 * repeats the error, about 100 bytes, where a job of the request may take 2:
 * without a bound a 16 MiB request would make the broker build an 800 MB
 * answer. 4 MiB fits any gRPC client's default receive limit and some 40,000
 * items; a request refused with more jobs than that ends its stream.
 */
const MAX_REFUSAL_ANSWER_BYTES = 4 * 1024 * 1024;

/** Per item: the error's bytes plus its code and the field tags and lengths. */
const REFUSED_ITEM_OVERHEAD_BYTES = 8;

/**
 * Stores the jobs the principal may enqueue and answers item by item, in
 * order: items naming a tenant outside the token's scope get PERMISSION_DENIED,
 * invalid or refused items their own code. Rejects only when the whole store
 * failed (e.g. Redis unreachable). `refused` hears of the first item refused
 * for the token, for the audit trail's warning: a producer that names tenants
 * it may not is a refusal like a call's, though the call goes on.
 */
export async function enqueueItems(
  broker: Broker,
  principal: Principal,
  jobs: readonly EnqueueRequest__Output[],
  refused: (error: AuthError) => void,
): Promise<EnqueueResult[]> {
  const results = new Array<EnqueueResult>(jobs.length);
  const allowed: number[] = [];
  let firstRefusal: AuthError | undefined;
  jobs.forEach((job, i) => {
    try {
      requireTenant(principal, job.tenant);
      allowed.push(i);
    } catch (error) {
      const denied = error as AuthError;
      firstRefusal ??= denied;
      results[i] = {
        job_id: '',
        duplicate: false,
        code: status.PERMISSION_DENIED,
        error: denied.message,
      };
    }
  });
  if (firstRefusal !== undefined) refused(firstRefusal);
  const outcomes =
    allowed.length === 0 ? [] : await broker.enqueue(allowed.map((i) => toEnqueueInput(jobs[i]!)));
  outcomes.forEach((result, k) => {
    results[allowed[k]!] =
      result instanceof BrokerError
        ? { job_id: '', duplicate: false, code: STATUS_OF[result.code], error: result.message }
        : { job_id: result.jobId, duplicate: result.duplicate, code: 0, error: '' };
  });
  return results;
}

export interface EnqueueStreamOptions {
  readonly broker: Broker;
  readonly logger: Logger;
  readonly tokens: TokenStore | undefined;
  readonly audit: Audit;
  readonly maxBatchSize: number;
  /** Started when the broker shuts down: each stream then ends as drained. */
  readonly drain: StreamDrain;
}

type EnqueueStreamCall = ServerDuplexStream<
  EnqueueStreamRequest__Output | UndecodableMessage,
  EnqueueStreamResponse
>;

/**
 * EnqueueStream: the token is checked when the stream opens and each job's
 * tenant as it arrives. Each request is answered once its jobs are stored; a
 * request refused as a whole (more jobs than the batch limit) or a failure of
 * the whole store is answered in every item, and the stream stays open for
 * the other requests, which may be other callers' jobs. Every answer states
 * the batch limit, so the client learns it from the first answer it reads,
 * whether or not its batch was over it. The stream ends (OK)
 * once the client has half-closed it and every request is answered. Only what
 * cannot be answered by request ends it, once the requests before it are
 * answered: bytes that do not decode (no request id to answer) with
 * INVALID_ARGUMENT, a request over the decoding bounds with
 * RESOURCE_EXHAUSTED, or a refused request whose answer would pass
 * MAX_REFUSAL_ANSWER_BYTES. The end names that request (refusedStatus, see
 * stream-refusal.ts), so its client fails it alone and sends the ones it
 * wrote after it again: nothing after it is read. (A message over the receive
 * limit is refused by grpc-js before this handler sees it, and the call is cut
 * at once; the client finds that one by its size, see
 * clients/enqueue-stream.ts.) A graceful shutdown drains it: nothing more is
 * read, and once every request read is answered it ends with drainedStatus
 * (see stream-drain.ts), unless the client has half-closed it by then.
 */
export function enqueueStreamHandler(
  options: EnqueueStreamOptions,
): (call: EnqueueStreamCall) => void {
  const { broker, logger, tokens, audit, maxBatchSize, drain } = options;

  const failedItems = (jobs: readonly unknown[], error: unknown): EnqueueResult[] => {
    const { code, details } = toCallError(error);
    if (code === status.INTERNAL) logger.error({ err: error }, 'enqueue stream request failed');
    const item: EnqueueResult = {
      job_id: '',
      duplicate: false,
      code: code ?? status.INTERNAL,
      error: details ?? String(error),
    };
    return jobs.map(() => item);
  };

  return (call) => {
    let principal: Principal;
    try {
      principal = audit.admit(tokens, call, 'producer');
    } catch (error) {
      call.emit('error', toCallError(error));
      return;
    }
    if (drain.started) {
      call.emit('error', drainedStatus());
      return;
    }
    const refused = (error: AuthError): void =>
      audit.refused({ rpc: rpcOf(call.getPath()), peer: call.getPeer(), caller: principal }, error);
    let unanswered = 0;
    let clientDone = false;
    let ended = false;
    /** Requests received, the one being read included: the client counts them as well. */
    let received = 0;
    /** A request that ends the stream, and which it was; set, nothing more is read. */
    let refusal: { error: unknown; position: number; requestId: string | undefined } | undefined;
    /** The broker shuts down; set, nothing more is read. */
    let draining = false;

    const end = (failure?: Partial<StatusObject>): void => {
      if (ended) return;
      ended = true;
      stopListening();
      if (failure === undefined) call.end();
      else call.emit('error', failure);
    };

    // Requests read before a refused one are answered first: their jobs may
    // be stored, and a client told only the refusal would take them for lost.
    // The end then promises that nothing after them was read (the refused
    // request's trailers, or a drain's).
    const endWhenAnswered = (): void => {
      if (unanswered > 0) return;
      if (refusal !== undefined) {
        end(refusedStatus(toCallError(refusal.error), refusal.position, refusal.requestId));
      } else if (clientDone) end();
      else if (draining) end(drainedStatus());
    };

    const stopListening = drain.onStart(() => {
      draining = true;
      endWhenAnswered();
    });

    const answer = (request: EnqueueStreamRequest__Output, results: EnqueueResult[]): void => {
      unanswered--;
      if (ended) return;
      call.write({ request_id: request.request_id, results, max_batch_size: maxBatchSize });
      if (unanswered < MAX_UNANSWERED_REQUESTS && call.isPaused()) call.resume();
      endWhenAnswered();
    };

    const refuse = (error: unknown, requestId?: string): void => {
      refusal = { error, position: received, requestId };
      endWhenAnswered();
    };

    call.on('data', (request: EnqueueStreamRequest__Output | UndecodableMessage) => {
      received++;
      // Dropped unread: the client resends what a drain or a refusal left unanswered.
      if (ended || refusal !== undefined || draining) return;
      if (request instanceof UndecodableMessage) {
        refuse(request.toError());
        return;
      }
      const { jobs } = request;
      const oversize = batchSizeError(jobs.length, maxBatchSize);
      if (
        oversize !== undefined &&
        jobs.length * (Buffer.byteLength(oversize.message) + REFUSED_ITEM_OVERHEAD_BYTES) >
          MAX_REFUSAL_ANSWER_BYTES
      ) {
        refuse(oversize, request.request_id);
        return;
      }
      unanswered++;
      if (unanswered >= MAX_UNANSWERED_REQUESTS) call.pause();
      const stored =
        oversize === undefined
          ? enqueueItems(broker, principal, jobs, refused)
          : Promise.reject(oversize);
      stored.then(
        (results) => answer(request, results),
        (error: unknown) => answer(request, failedItems(jobs, error)),
      );
    });
    call.on('end', () => {
      clientDone = true;
      endWhenAnswered();
    });
    const abandon = (): void => {
      ended = true;
      stopListening();
    };
    call.on('error', abandon);
    call.on('cancelled', abandon);
  };
}
