/**
 * How an EnqueueStream ended by one request's refusal says which request it
 * was, so that its client fails that request alone.
 *
 * Some requests cannot be answered by id: bytes that do not decode, a request
 * over the decoding bounds (request-bounds.ts), one whose item-by-item refusal
 * would be too large to send. The broker then reads nothing more, answers every
 * request it read before, and ends the stream with the refusal's status. Told
 * only that status, a client took it for the fate of every batch it had not
 * got an answer for: "do not retry, your input is bad" for batches never read.
 * The trailers below name the refused request by its place on the stream (the
 * client counts what it writes, so this names it even when the request_id is
 * unreadable or timed out on the client) and by its request_id when the broker
 * could read it; their presence promises that the requests after it were not
 * read, none of their jobs stored: the client sends them again on a new
 * stream, as after a drain (stream-drain.ts).
 */
import { Metadata, type StatusObject } from '@grpc/grpc-js';

/** Trailer: the refused request's place among the requests of the stream, 1 for the first. */
export const REFUSED_REQUEST_TRAILER = 'rota-refused-request';
/** Trailer: the refused request's request_id, when the broker could read it. */
export const REFUSED_REQUEST_ID_TRAILER = 'rota-refused-request-id';

/**
 * The status a stream ends with when request number `position` is refused
 * with `refusal`, once every request read before it is answered.
 */
export function refusedStatus(
  refusal: Partial<StatusObject>,
  position: number,
  requestId: string | undefined,
): Partial<StatusObject> {
  const metadata = new Metadata();
  metadata.set(REFUSED_REQUEST_TRAILER, String(position));
  if (requestId !== undefined) metadata.set(REFUSED_REQUEST_ID_TRAILER, requestId);
  return { ...refusal, metadata };
}

/**
 * The place on its stream of the request the trailers say was refused (those
 * after it were not read), or undefined when they say none was.
 */
export function refusedRequest(trailers: Metadata | undefined): number | undefined {
  const [value] = trailers?.get(REFUSED_REQUEST_TRAILER) ?? [];
  const position = Number(value);
  return typeof value === 'string' && Number.isSafeInteger(position) && position > 0
    ? position
    : undefined;
}
