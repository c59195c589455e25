import { WRITE_RETRY_MS, type HeldLeases, type LeaseManagerDeps } from './held-leases.js';
import type { Lease } from './session.js';
import type { ThrottledWarning } from './throttled-warning.js';

/**
 * Ends leases without their worker: a cancelled job, a job timeout, an orphan
 * whose holder has been gone a lease TTL. The worker, if still there, is told
 * to stop.
 */
export class Revocation {
  /**
   * While Redis is down each timed-out lease's revocation fails and is tried
   * again every second, and each sweep's expiry fails: that was an error line
   * per lease per second. At warn, as the other failures of an outage that
   * retry by themselves are, and at most one a second of each, saying how
   * many were left out.
   */
  private readonly timeoutFailed: ThrottledWarning;
  private readonly expiryFailed: ThrottledWarning;

  constructor(
    private readonly deps: LeaseManagerDeps,
    private readonly held: HeldLeases,
  ) {
    this.timeoutFailed = deps.warnings.make(
      'revoking timed-out leases failed; each is retried every 1 s',
    );
    this.expiryFailed = deps.warnings.make(
      'revoking expired leases failed; they are retried on the next sweep',
    );
  }

  /** The job was cancelled (here or on another broker): tell the worker holding it. */
  revoke(jobId: string, reason: string): void {
    const lease = this.held.leases.get(jobId);
    if (!lease) return;
    lease.session?.send({ kind: 'cancel', jobId, reason });
    this.held.finish(lease, { result: 'cancelled', cause: 'cancel' });
  }

  /**
   * Revokes the leases whose job was cancelled meanwhile, and answers those
   * leased anew under another token or by another broker (a worker
   * re-attached them elsewhere: adopt.lua). Called once this broker listens
   * again after its pub/sub connection was down: the announcements of
   * cancellations and moves made then were lost; workers ran cancelled jobs
   * to the end, their results refused, and a moved lease kept its slots here
   * (session capacity, the tenant's max_in_flight) while the old session
   * lived. A job that no longer exists counts as cancelled: with
   * ROTA_COMPLETED_RETENTION_MS 0 a cancel deletes the job, and nothing else
   * deletes a leased one (its lease is ended here first).
   */
  async revokeCancelledAndFindMoved(): Promise<Lease[]> {
    const leases = [...this.held.leases.values()].filter((lease) => !lease.settling);
    const states = await this.deps.store.leaseStates(
      leases.map(({ job }) => ({ tenant: job.tenant, jobId: job.id })),
    );
    const moved: Lease[] = [];
    leases.forEach((lease, i) => {
      // An ack sent meanwhile (a completion with retention 0 deletes the job too) settles it.
      if (lease.settling || this.held.leases.get(lease.job.id) !== lease) return;
      const now = states[i];
      if (now === undefined || now.state === 'cancelled') {
        this.revoke(lease.job.id, 'cancelled');
      } else if (now.state === 'leased' && (now.token !== lease.token || !now.heldHere)) {
        moved.push(lease);
      }
    });
    return moved;
  }

  /** Expires the orphans whose holder was last seen more than a lease TTL before `now`. */
  expireOrphans(now: number): void {
    const ttl = this.deps.settings.leaseTtlMs;
    const expired = [...this.held.orphans].filter(
      (lease) => !lease.settling && now - lease.lastSeenAt > ttl,
    );
    if (expired.length > 0) {
      this.revokeAttempts(
        'expired',
        expired,
        `lease expired: the worker sent no heartbeat for ${ttl} ms`,
      );
    }
  }

  /** The lease's job timeout passed (HeldLeases.armTimeout). */
  timedOut(lease: Lease): void {
    this.revokeAttempts('timeout', [lease], `timed out after ${lease.job.timeoutMs} ms`);
  }

  /** Ends attempts without the worker (expiry, timeout): failed attempts, worker told to stop. */
  private revokeAttempts(cause: 'expired' | 'timeout', leases: Lease[], message: string): void {
    const reason = cause === 'timeout' ? 'timeout' : 'lease lost';
    for (const lease of leases) lease.settling = true;
    const failures = leases.map((lease) => ({
      tenant: lease.job.tenant,
      queue: lease.job.queue,
      jobId: lease.job.id,
      token: lease.token,
      message,
      retryable: true,
      retryAfterMs: 0,
    }));
    this.deps.store.fail(failures, this.deps.clock()).then(
      (outcomes) => {
        leases.forEach((lease, i) => {
          // A Cancel names only the job: once the job's next attempt is leased
          // here (its retry came due at once), register() has told the worker
          // already, and this Cancel would stop the new attempt.
          if (this.held.leases.get(lease.job.id) === lease) {
            lease.session?.send({ kind: 'cancel', jobId: lease.job.id, reason });
          }
          this.held.afterFailure(lease, outcomes[i] ?? { kind: 'unknown' }, cause, message);
        });
        // A timeout is one job's event (at debug, as every per-job line: under
        // load that was an info line per job); an expiry is one sweep's.
        this.deps.logger[cause === 'timeout' ? 'debug' : 'info'](
          { jobs: leases.map((l) => l.job.id), reason },
          'leases revoked',
        );
      },
      (error: unknown) => {
        for (const lease of leases) lease.settling = false;
        if (this.held.stopped) return;
        // An expired orphan is swept again; a timed-out lease sits on a live
        // session the sweep never looks at, so its timeout is armed again
        // (else the job stayed leased and its slot lost for good).
        if (cause === 'timeout') {
          for (const lease of leases) this.held.armTimeout(lease, WRITE_RETRY_MS);
        }
        (cause === 'timeout' ? this.timeoutFailed : this.expiryFailed).warn(() => ({
          err: error,
          jobs: leases.map((l) => l.job.id),
          reason,
        }));
      },
    );
  }
}
