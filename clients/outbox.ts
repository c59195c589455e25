/**
 * What the Worker sends for the leases it holds: progress, coalesced to a
 * job's latest value each tick, and acks, in `acks` messages of bounded size
 * (acks.ts); and the capacity it has for more, as a Credit when stuck handlers
 * changed it. All wait, queued, while no session is welcomed.
 */
import * as grpc from '@grpc/grpc-js';

import { MAX_PROGRESS_BYTES } from '../src/broker/validation.js';
import {
  ackGroups,
  completeProblem,
  failMessage,
  type Ack,
  type CompleteAck,
  type FailAck,
} from './acks.js';
import { encodeReported } from './codec.js';
import {
  AckRefusedError,
  NonRetryableError,
  RotaError,
  errorMessage,
  type RotaErrorOptions,
} from './errors.js';
import type { HeldLease, WorkerShared } from './held-jobs.js';

export class Outbox {
  #flushScheduled: NodeJS.Immediate | undefined;

  constructor(private readonly shared: WorkerShared) {}

  reportProgress(held: HeldLease, value: unknown): Promise<void> {
    if (held.phase !== 'running') return Promise.resolve();
    let encoded: ReturnType<typeof encodeReported>;
    try {
      encoded = encodeReported(value);
    } catch (err) {
      return this.#refuseProgress(
        `progress of job ${held.job.id} cannot be encoded as JSON, not sent: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const { bytes: data, contentType } = encoded;
    if (data.length > MAX_PROGRESS_BYTES) {
      return this.#refuseProgress(
        `progress of job ${held.job.id} is ${data.length} bytes; the limit is ${MAX_PROGRESS_BYTES}: not sent`,
      );
    }
    const { progress } = this.shared.jobs;
    const pending = progress.get(held.job.id);
    if (pending !== undefined) Object.assign(pending, { data, contentType });
    else progress.set(held.job.id, { token: held.token, data, contentType, waiters: [] });
    if (this.shared.session?.welcome === undefined) return Promise.resolve();
    this.schedule();
    return new Promise((resolve) => progress.get(held.job.id)?.waiters.push(resolve));
  }

  /**
   * Refuses a progress value without sending it: the promise ctx.progress()
   * returns rejects with a RotaError INVALID_ARGUMENT (never a throw, so a
   * handler's `.catch()` sees it). A handler that awaits the promise learns
   * from it; one that does not from 'error', and its rejection must not count
   * as unhandled, which would end the process.
   */
  #refuseProgress(message: string, options?: RotaErrorOptions): Promise<void> {
    const error = new RotaError(grpc.status.INVALID_ARGUMENT, message, options);
    this.shared.listeners.reportError(error);
    const refused = Promise.reject(error);
    refused.catch(() => undefined);
    return refused;
  }

  /** The session ended: callers of ctx.progress() stop waiting for it. */
  sessionEnded(): void {
    // Progress is best effort: its callers do not wait for a reconnect (which
    // may never come, or find the lease gone), as those of progress reported
    // while disconnected do not. The latest values stay queued for the next session.
    for (const pending of this.shared.jobs.progress.values()) {
      for (const resolve of pending.waiters.splice(0)) resolve();
    }
  }

  /** Queues the outcome of a handler that ran to its end; the lease is held until it is written. */
  ack(held: HeldLease, ack: Ack): void {
    held.phase = 'acking';
    held.ack = ack;
    this.shared.jobs.ackQueue.add(held.job.id);
    this.schedule();
  }

  /**
   * The error to fail the job with instead when the broker would refuse this
   * Complete (see acks.ts), also emitted as an AckRefusedError; else undefined.
   */
  refusal(complete: CompleteAck, maxResultBytes: number): NonRetryableError | undefined {
    const problem = completeProblem(complete, maxResultBytes);
    if (problem === undefined) return undefined;
    this.shared.listeners.reportError(
      new AckRefusedError(complete.job_id, 'ACK_INVALID', `${problem}; failed the job instead`),
    );
    return new NonRetryableError(problem);
  }

  schedule(): void {
    this.#flushScheduled ??= setImmediate(() => this.flush());
  }

  /**
   * Sends the capacity if it changed, queued progress, then the queued acks in
   * `acks` messages of bounded size; a lease is forgotten once its ack's
   * message is written. Kept while not connected.
   */
  flush(): void {
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
    const session = this.shared.session;
    const welcome = session?.welcome;
    if (session === undefined || welcome === undefined || session.ended) return;
    const { jobs, options } = this.shared;
    // Once a tick: a handler that returns soon after its abort changes nothing.
    const capacity = Math.max(0, options.concurrency - jobs.stuck.size);
    if (capacity !== session.capacity && session.send({ credit: { capacity } })) {
      session.capacity = capacity;
    }
    for (const [jobId, pending] of jobs.progress) {
      session.send({
        progress: {
          job_id: jobId,
          lease_token: pending.token,
          data: pending.data,
          content_type: pending.contentType,
        },
      });
      for (const resolve of pending.waiters) resolve();
    }
    jobs.progress.clear();
    const queued: Array<{ held: HeldLease; ack: Ack }> = [];
    for (const jobId of jobs.ackQueue) {
      const held = jobs.leases.get(jobId);
      if (held?.ack === undefined) continue;
      // This broker may take smaller results than the one the job finished under.
      const error =
        'complete' in held.ack
          ? this.refusal(held.ack.complete, welcome.max_result_bytes)
          : undefined;
      if (error !== undefined) held.ack = { fail: failMessage(jobId, held.token, error) };
      queued.push({ held, ack: held.ack });
    }
    for (const group of ackGroups(queued, (item) => item.ack)) {
      const completed: CompleteAck[] = [];
      const failed: FailAck[] = [];
      for (const { ack } of group) {
        if ('complete' in ack) completed.push(ack.complete);
        else failed.push(ack.fail);
      }
      if (!session.send({ acks: { completed, failed } })) return;
      for (const { held } of group) jobs.acked(held.job.id);
      jobs.changed();
    }
  }
}
