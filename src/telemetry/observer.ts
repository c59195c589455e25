import type { BrokerObserver, Settlement } from '../broker/observer.js';
import type { Lease, Session } from '../broker/session.js';
import type { StatsBook } from '../broker/stats.js';
import type { Clock } from '../scheduler/index.js';
import type { DeadLetterAction, NewJob } from '../store/types.js';
import type { BrokerMetrics } from './metrics.js';
import {
  SpanKind,
  contextFromHeaders,
  endSpan,
  hasSampledTraceContext,
  messagingAttributes,
} from './tracing.js';
import { startSpan } from './tracing.js';

/**
 * Turns lifecycle events into metrics, GetStats figures and dispatch spans. A
 * dispatch span (jobs with a trace context only) runs from the lease to its
 * settlement, a child of the producer's span: failures, expiries and timeouts
 * mark it as an error.
 */
export class TelemetryObserver implements BrokerObserver {
  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly stats: StatsBook,
    private readonly clock: Clock,
  ) {}

  enqueued(job: NewJob, duplicate: boolean): void {
    if (duplicate) return;
    this.metrics.count('enqueued', job.tenant, job.queue);
    this.stats.enqueued(job.tenant, job.queue, job.createdAt);
  }

  dispatched(lease: Lease, session: Session): void {
    const { job } = lease;
    const waitMs = Math.max(0, lease.leasedAt - job.runAt);
    this.metrics.count('dispatched', job.tenant, job.queue);
    this.metrics.waited(job.tenant, job.queue, waitMs);
    this.stats.waited(job.tenant, job.queue, lease.leasedAt, waitMs);
    if (hasSampledTraceContext(job.headers)) {
      lease.span = startSpan(
        `dispatch ${job.queue}`,
        SpanKind.INTERNAL,
        {
          ...messagingAttributes('receive', { ...job, attempt: lease.attempt }),
          'rota.worker.id': session.workerId,
          'rota.session.id': session.id,
          'rota.wait_ms': waitMs,
        },
        contextFromHeaders(job.headers),
      );
    }
  }

  cancelled(tenant: string, queue: string, count: number, by: 'cancel' | 'purge'): void {
    this.metrics.count('cancelled', tenant, queue, by, count);
  }

  attemptsReclaimed(tenant: string, queue: string, retrying: number, dead: number): void {
    // As a lease this broker expires itself: a failed attempt, by expiry.
    this.metrics.count('failed', tenant, queue, undefined, retrying + dead);
    this.stats.failedUnleased(tenant, queue, this.clock(), retrying + dead);
    this.metrics.count('expired', tenant, queue, 'expired', retrying + dead);
    if (dead > 0) this.metrics.count('dead', tenant, queue, undefined, dead);
  }

  deadLettersTaken(tenant: string, queue: string, count: number, by: DeadLetterAction): void {
    this.metrics.count('dead_letters_taken', tenant, queue, by, count);
  }

  settled(lease: Lease, settlement: Settlement): void {
    const { job } = lease;
    const now = this.clock();
    const runMs = Math.max(0, now - lease.leasedAt);
    // A cancelled or stale lease is no attempt's outcome: a stale one was
    // adopted by another broker, which counts its outcome, so counting its
    // expiry or run time here too made one completed job look expired as well.
    if (settlement.result === 'completed') {
      this.metrics.ran(job.tenant, job.queue, runMs);
      this.metrics.count('completed', job.tenant, job.queue);
      this.stats.completed(job.tenant, job.queue, now, runMs);
    } else if (settlement.result === 'retrying' || settlement.result === 'dead') {
      this.metrics.ran(job.tenant, job.queue, runMs);
      this.metrics.count('failed', job.tenant, job.queue);
      this.stats.failed(job.tenant, job.queue, now, runMs);
      if (settlement.result === 'dead') this.metrics.count('dead', job.tenant, job.queue);
      if (settlement.cause === 'expired' || settlement.cause === 'timeout') {
        this.metrics.count('expired', job.tenant, job.queue, settlement.cause);
      }
    }
    if (lease.span) {
      lease.span.setAttribute('rota.outcome', settlement.result);
      // As the README says: failures, expiries and timeouts. A cancel is the
      // operator's; a stale lease's attempt went on under another lease, and a
      // left one goes on or is recovered after this broker stopped.
      const failed = settlement.result === 'retrying' || settlement.result === 'dead';
      endSpan(
        lease.span,
        failed ? (settlement.error ?? `${settlement.cause}: ${settlement.result}`) : undefined,
      );
    }
  }

  heldBack(tenant: string, queue: string): void {
    this.metrics.count('throttled', tenant, queue);
  }
}
