import type { JobStore } from '../store/job-store.js';
import type { FailOutcome } from '../store/types.js';
import { coerceError } from './errors.js';
import type { HeldLeases, LeaseManagerDeps } from './held-leases.js';
import type { AckRefusal, Lease, Session } from './session.js';
import type { ThrottledWarning } from './throttled-warning.js';
import { MAX_DELAY_MS, MAX_ERROR_LENGTH, MAX_PROGRESS_BYTES } from './validation.js';
import { WriteRetry } from './write-retry.js';

const MAX_CONTENT_TYPE_BYTES = 128;

export interface CompleteInput {
  readonly jobId: string;
  readonly token: string;
  readonly result: Buffer;
  /** Media type of the result ('' = not given). */
  readonly resultContentType: string;
}

export interface FailInput {
  readonly jobId: string;
  readonly token: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number;
}

/**
 * What a worker reports on its leases: completions and failures, checked,
 * written to Redis and answered with a refusal where they do not hold; and
 * progress.
 */
export class Acknowledgements {
  private readonly progressNotStored: ThrottledWarning;
  private readonly writeRetry: WriteRetry;

  constructor(
    private readonly deps: LeaseManagerDeps,
    private readonly held: HeldLeases,
  ) {
    this.progressNotStored = deps.warnings.make(
      'progress not stored (it is best effort); the job runs on',
    );
    this.writeRetry = new WriteRetry(deps.warnings, 'recording acks');
  }

  async acknowledge(
    session: Session,
    completes: readonly CompleteInput[],
    fails: readonly FailInput[],
  ): Promise<void> {
    const refusals: AckRefusal[] = [];
    const maxResult = this.deps.settings.maxPayloadBytes;
    const completing = completes
      .filter((ack) =>
        acceptable(
          ack.jobId,
          (ack.result.length > maxResult &&
            `result is ${ack.result.length} bytes; the limit is ${maxResult}. Fail the job or store the result elsewhere`) ||
            contentTypeProblem('result_content_type', ack.resultContentType),
          refusals,
        ),
      )
      .map((ack) => ({ ack, lease: this.claim(session, ack.jobId, ack.token, refusals) }))
      .filter((item): item is { ack: CompleteInput; lease: Lease } => item.lease !== undefined);
    const failing = fails
      .filter((fail) =>
        acceptable(
          fail.jobId,
          fail.retryAfterMs > MAX_DELAY_MS &&
            `retry_after_ms is ${fail.retryAfterMs}; it must be at most ${MAX_DELAY_MS} (365 days)`,
          refusals,
        ),
      )
      .map((fail) => ({ fail, lease: this.claim(session, fail.jobId, fail.token, refusals) }))
      .filter((item): item is { fail: FailInput; lease: Lease } => item.lease !== undefined);

    if (refusals.length > 0) session.send({ kind: 'ackResult', outcomes: refusals });
    if (completing.length > 0 || failing.length > 0) {
      // Now, not on the next turn: the leases of the slots just freed go to
      // Redis ahead of this ack's write, and the worker has its next jobs
      // while Redis records these.
      for (const queue of session.queuesInTurn()) this.deps.dispatcher(queue).serveNow(session);
    }
    await this.record(session, completing, failing);
  }

  /**
   * Writes acknowledged outcomes to Redis. While Redis is unreachable they are
   * kept (their leases stay settling, so nothing expires them) and written again
   * every second until Redis answers: an ack the worker sent is never dropped.
   * A failed write may have been recorded all the same (Redis ran the scripts,
   * the replies were lost): the scripts answer such an ack again as recorded,
   * and `resent` tells the store it was sent before.
   */
  private async record(
    session: Session,
    completing: ReadonlyArray<{ ack: CompleteInput; lease: Lease }>,
    failing: ReadonlyArray<{ fail: FailInput; lease: Lease }>,
    resent = false,
  ): Promise<void> {
    if (completing.length === 0 && failing.length === 0) return;
    const now = this.deps.clock();
    let completed: Awaited<ReturnType<JobStore['complete']>>;
    let failed: FailOutcome[];
    try {
      [completed, failed] = await Promise.all([
        this.deps.store.complete(
          completing.map(({ ack, lease }) => ({
            tenant: lease.job.tenant,
            queue: lease.job.queue,
            jobId: ack.jobId,
            token: ack.token,
            result: ack.result,
            resultContentType: ack.resultContentType,
            entry: lease.job.entry,
            priority: lease.job.priority,
          })),
          now,
          resent,
        ),
        this.deps.store.fail(
          failing.map(({ fail, lease }) => ({
            tenant: lease.job.tenant,
            queue: lease.job.queue,
            jobId: fail.jobId,
            token: fail.token,
            message: fail.message.slice(0, MAX_ERROR_LENGTH),
            retryable: fail.retryable,
            retryAfterMs: fail.retryAfterMs,
          })),
          now,
        ),
      ]);
    } catch (error) {
      if (this.held.stopped) return;
      this.writeRetry.retry(
        () => ({ err: error, acks: completing.length + failing.length }),
        () => void this.record(session, completing, failing, true),
      );
      return;
    }
    const refusals: AckRefusal[] = [];
    completing.forEach(({ lease }, i) => {
      const outcome = completed[i] ?? 'unknown';
      if (outcome !== 'ok') refusals.push(storeRefusal(lease.job.id, outcome));
      this.held.finish(lease, { result: outcome === 'ok' ? 'completed' : 'stale', cause: 'ack' });
    });
    failing.forEach(({ fail, lease }, i) => {
      const outcome = failed[i] ?? { kind: 'unknown' };
      if (outcome.kind === 'stale' || outcome.kind === 'unknown') {
        refusals.push(storeRefusal(lease.job.id, outcome.kind));
      }
      this.held.afterFailure(lease, outcome, 'fail', fail.message);
    });
    if (refusals.length > 0) session.send({ kind: 'ackResult', outcomes: refusals });
  }

  async progress(
    session: Session,
    jobId: string,
    token: string,
    data: Buffer,
    contentType: string,
  ): Promise<void> {
    const lease = this.leaseFor(session, jobId);
    let refusal: AckRefusal | undefined;
    const problem =
      (data.length > MAX_PROGRESS_BYTES &&
        `progress is ${data.length} bytes; the limit is ${MAX_PROGRESS_BYTES}`) ||
      contentTypeProblem('content_type', contentType);
    if (problem) {
      refusal = { jobId, status: 'invalid', message: problem };
    } else if (!lease || lease.token !== token) {
      refusal = { jobId, status: 'stale', message: 'this lease is not current' };
    } else {
      let outcome: Awaited<ReturnType<JobStore['progress']>>;
      try {
        outcome = await this.deps.store.progress(lease.job.tenant, jobId, token, data, contentType);
      } catch (error) {
        // Progress is best effort, and a worker may report it often: while
        // Redis is full or down, one line per second, not an error per message.
        this.progressNotStored.warn({ jobId, reason: coerceError(error).message });
        return;
      }
      if (outcome !== 'ok') refusal = storeRefusal(jobId, outcome);
    }
    if (refusal) session.send({ kind: 'ackResult', outcomes: [refusal] });
  }

  /**
   * The lease an ack names, marked settling and out of its session's slots;
   * undefined (and a refusal) when not current.
   *
   * Why the slot is free before Redis has the outcome: the worker finished the
   * job when it acked, and a slot held until the complete script answered
   * idled for that round trip. With no-op jobs (bench throughput, 2 workers ×
   * 100) every grant took a session's whole capacity, so lease script, work
   * and complete script ran one after another in lockstep. Freed here, and the
   * next leases written ahead of the complete (acknowledge): batch end to end
   * 21.4 / 21.9 / 22.3k → 23.2 / 24.0 / 24.2k jobs/s in alternating runs, the
   * noisy flood's drain 24.6 / 24.8k → 27.5 / 28.3k (quiet p50 7.6 → 9.0 ms,
   * p99 27–38 ms either way). Freeing the slot without the reordering gained
   * nothing: the lease script then queued behind the complete on the connection.
   */
  private claim(
    session: Session,
    jobId: string,
    token: string,
    refusals: AckRefusal[],
  ): Lease | undefined {
    const lease = this.leaseFor(session, jobId);
    if (!lease || lease.token !== token) {
      refusals.push({
        jobId,
        status: 'stale',
        message:
          'this lease is not current (it expired, timed out, was cancelled or already acknowledged)',
      });
      return undefined;
    }
    if (lease.settling) {
      refusals.push({
        jobId,
        status: 'stale',
        message: 'this lease is already being acknowledged',
      });
      return undefined;
    }
    lease.settling = true;
    lease.session?.leases.delete(jobId);
    this.held.recording.add(lease);
    return lease;
  }
  /**
   * The lease of `jobId` as the session may see it: one of a tenant outside
   * its token's scope is answered as one that does not exist, so a worker
   * that learned another tenant's job id and lease token can neither settle
   * that job nor tell that it runs.
   */
  private leaseFor(session: Session, jobId: string): Lease | undefined {
    const lease = this.held.leases.get(jobId);
    return lease && session.mayActFor(lease.job.tenant) ? lease : undefined;
  }
}

/** Why a media type of a result or progress is refused, or false when it is not. */
function contentTypeProblem(field: string, value: string): string | false {
  const bytes = Buffer.byteLength(value);
  return (
    bytes > MAX_CONTENT_TYPE_BYTES &&
    `${field} is ${bytes} bytes; it must be at most ${MAX_CONTENT_TYPE_BYTES}`
  );
}

/** False, with an ACK_INVALID refusal, when the ack has a `problem`. */
function acceptable(jobId: string, problem: string | false, refusals: AckRefusal[]): boolean {
  if (problem === false) return true;
  refusals.push({ jobId, status: 'invalid', message: problem });
  return false;
}

function storeRefusal(jobId: string, outcome: 'stale' | 'unknown' | 'ok'): AckRefusal {
  return outcome === 'unknown'
    ? { jobId, status: 'unknown', message: 'no such job (wrong id, or its retention expired)' }
    : { jobId, status: 'stale', message: 'this lease is no longer the job\u2019s current lease' };
}
