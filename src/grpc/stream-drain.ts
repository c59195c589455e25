/**
 * The drain of EnqueueStreams when the broker shuts down gracefully, and how a
 * client tells it from a failure.
 *
 * grpc-js's tryShutdown lets calls already open run on; a stream runs until
 * the forced close cuts it, and its client cannot know which of its
 * unanswered batches were stored. Drained instead, a stream reads nothing
 * more, answers every request it read, and ends with drainedStatus: its
 * client then knows the requests still without an answer were not read and
 * sends them again on a new stream (another broker of its address list). A
 * client that does not know the trailer still gets UNAVAILABLE for them, as
 * for any stream that ends, never a silent loss.
 */
import { Metadata, status, type StatusObject } from '@grpc/grpc-js';

/** Trailer of a drained EnqueueStream (see rota.proto, EnqueueStream). */
export const DRAINED_TRAILER = 'rota-drained';
const UNANSWERED_NOT_READ = 'unanswered-requests-not-read';

/** The status a drained stream ends with, once every request it read is answered. */
export function drainedStatus(): Partial<StatusObject> {
  const metadata = new Metadata();
  metadata.set(DRAINED_TRAILER, UNANSWERED_NOT_READ);
  return {
    code: status.UNAVAILABLE,
    details:
      'the broker is shutting down and reads no more requests on this stream; the requests it did not answer were not read (none of their jobs is stored): send them again on a new stream',
    metadata,
  };
}

/** Whether a stream's trailers say it was drained (its unanswered requests were not read). */
export function wasDrained(trailers: Metadata | undefined): boolean {
  return trailers?.get(DRAINED_TRAILER)[0] === UNANSWERED_NOT_READ;
}

/** Tells the open EnqueueStreams, once, that the broker is shutting down. */
export class StreamDrain {
  #started = false;
  readonly #listeners = new Set<() => void>();

  /** True once the shutdown began: a stream opened now is drained at once. */
  get started(): boolean {
    return this.#started;
  }

  /**
   * Calls `listener` when the drain starts (never from within this call);
   * returns what stops listening, for a stream that ends before.
   */
  onStart(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener();
  }
}
