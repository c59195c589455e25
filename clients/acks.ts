/**
 * The acks a Worker sends: what the broker would refuse, and how they are
 * grouped into messages.
 *
 * A refused ack is worse than a failed job: the broker keeps the lease the
 * worker's (rota.proto, Complete.result, Fail.retry_after_ms), so while the
 * session lives the job stays LEASED and the worker's slot stays taken. So the
 * Worker never sends an ack it knows the broker refuses: an oversized result
 * becomes a non-retryable Fail, and retry_after_ms is clamped to the maximum.
 *
 * The broker reads messages of at most max(16 MiB, 2 × ROTA_MAX_PAYLOAD_BYTES
 * + 64 KiB) and ends the stream on a larger one, losing every ack in it. One
 * `acks` message carries at most ACK_MESSAGE_BYTES of results and error texts,
 * or a single ack that is larger alone (a result at the payload limit still
 * goes, and fits the broker's limit).
 */
import type { Complete } from '../src/generated/rota/v1/Complete.js';
import type { Fail } from '../src/generated/rota/v1/Fail.js';
import { MAX_DELAY_MS, MAX_ERROR_LENGTH } from '../src/broker/validation.js';
import { NonRetryableError, RetryAfterError, errorMessage } from './errors.js';
import { messageGroups } from './message-groups.js';

interface AckIds {
  job_id: string;
  lease_token: string;
}
export type CompleteAck = Complete & AckIds & { result: Buffer; result_content_type: string };
export type FailAck = Fail & AckIds & { message: string };
export type Ack = { complete: CompleteAck } | { fail: FailAck };

export const ACK_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Job id, lease token, content type and framing of one ack, roughly. */
const ACK_OVERHEAD_BYTES = 256;

/**
 * Why the broker would refuse this Complete, or undefined when it would not.
 * `maxResultBytes` is Welcome.max_result_bytes (0 = the broker did not say: not checked).
 */
export function completeProblem(complete: CompleteAck, maxResultBytes: number): string | undefined {
  // Its media type is one of the two the Worker sends (encodeReported), well
  // under the broker's 128 bytes: only the size can be over.
  const bytes = complete.result.length;
  if (maxResultBytes > 0 && bytes > maxResultBytes) {
    return `result is ${bytes} bytes; the broker's limit is ${maxResultBytes} (ROTA_MAX_PAYLOAD_BYTES): store the result elsewhere`;
  }
  return undefined;
}

/**
 * The Fail reporting `error`: retried unless it is a NonRetryableError, after
 * a RetryAfterError's delay (clamped to 1 ms – 365 days, the broker's maximum).
 * Why not 0: retry_after_ms 0 is "not set" on the wire, and the broker then
 * waits out the backoff (up to an hour by default) where the handler asked
 * for the next attempt now.
 */
export function failMessage(jobId: string, token: string, error: unknown): FailAck {
  return {
    job_id: jobId,
    lease_token: token,
    message: errorMessage(error).slice(0, MAX_ERROR_LENGTH),
    retryable: !(error instanceof NonRetryableError),
    retry_after_ms:
      error instanceof RetryAfterError
        ? Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(error.retryAfterMs) || 0))
        : 0,
  };
}

function ackBytes(ack: Ack): number {
  return 'complete' in ack
    ? ACK_OVERHEAD_BYTES + ack.complete.result.length
    : ACK_OVERHEAD_BYTES + Buffer.byteLength(ack.fail.message);
}

/** Splits acks, in order, into groups of one `acks` message each (see the module comment). */
export function ackGroups<T>(items: readonly T[], ackOf: (item: T) => Ack): T[][] {
  return messageGroups(items, (item) => ackBytes(ackOf(item)), ACK_MESSAGE_BYTES);
}
