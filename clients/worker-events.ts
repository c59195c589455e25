/** What a Worker tells its caller: where it is in its lifecycle, and its events. */
import type { RotaError } from './errors.js';
import type { WorkerJob } from './worker-options.js';

/**
 * Lifecycle, only ever moving forwards:
 * - `IDLE`: constructed, start() not called.
 * - `RUNNING`: connected or reconnecting; taking leases.
 * - `DRAINING`: close() called; finishing and reporting the jobs it holds,
 *   reconnecting only for those and only until shutdownGraceMs is over.
 * - `STOPPED`: stream and channel closed.
 */
export type WorkerState = 'IDLE' | 'RUNNING' | 'DRAINING' | 'STOPPED';

export interface WorkerEvents {
  /**
   * Stream failures, refused acks, handler-side encoding problems: only
   * emitted when someone listens. Listeners that threw and handlers still
   * running a second after their abort (see Worker.stuck): with no 'error'
   * listener, these are process warnings (process.emitWarning).
   */
  error: [error: Error];
  /**
   * The handler resolved; its result will be reported (an ack the broker then
   * refuses comes on 'error' as an AckRefusedError).
   */
  completed: [job: WorkerJob, result: unknown];
  /**
   * The handler threw; or its result cannot be reported (not JSON, or larger
   * than the broker takes: a NonRetryableError, and the job is failed for
   * good); or the job was aborted (the error is then a JobAbortedError).
   */
  failed: [job: WorkerJob, error: unknown];
  connected: [info: { sessionId: string; reattachedJobIds: string[]; refusedJobIds: string[] }];
  disconnected: [error: RotaError | undefined];
  /** The broker is shutting down and accepts acks for this long; the worker reconnects after. */
  draining: [graceMs: number];
}
