import { holdingTtls } from '../scheduler/index.js';
import type { JobRecord } from '../store/types.js';
import { withoutPayload, type HeldLeases, type LeaseManagerDeps } from './held-leases.js';
import type { InFlightRef } from './hello.js';
import type { Lease, Session } from './session.js';
import { isName } from './validation.js';

/** A Hello being re-attached: the jobs it names, and those heard cancelled meanwhile. */
interface Underway {
  readonly jobIds: ReadonlySet<string>;
  readonly cancelled: Set<string>;
}

/** A reconnecting worker's leases, taken back onto its new session. */
export class Reattachment {
  /** Each Hello being re-attached, and its adoption (settled once its leases are held or refused). */
  private readonly underway = new Map<Underway, Promise<unknown>>();

  constructor(
    private readonly deps: LeaseManagerDeps,
    private readonly held: HeldLeases,
  ) {}

  /**
   * Re-attaches leases a reconnecting worker still runs whose token is still
   * the job's current one in Redis: ours (orphaned or held by its old
   * session), or another broker's (after a broker restart, or a move).
   * Adopting makes this broker the lease's holder, so the previous one can no
   * longer expire it. Ours are adopted too: the worker may have re-attached
   * one to another broker since (A → B → A), and an ack is recorded only by
   * the holder (complete.lua), so a lease taken over here without it had the
   * worker's valid Complete refused as stale, and B expired it and ran it again.
   *
   * Nothing moves before Redis has answered: a Hello that fails on Redis
   * leaves every lease as it was. Why: an orphan moved onto a session that
   * then never opened was neither orphaned nor held by a live session, so it
   * never expired, and its renewed entry was never reclaimed.
   *
   * `cancelled`: the jobs named whose cancellation this broker heard
   * meanwhile (see heardCancel), for the caller to revoke.
   */
  async reattach(
    session: Session,
    inFlight: readonly InFlightRef[],
  ): Promise<{ reattached: string[]; refused: string[]; cancelled: string[] }> {
    const underway: Underway = {
      jobIds: new Set(inFlight.map((ref) => ref.jobId)),
      cancelled: new Set(),
    };
    const adoption = this.adoptAll(session, inFlight);
    this.underway.set(underway, adoption);
    try {
      const moved = await adoption;
      return { ...moved, cancelled: [...underway.cancelled] };
    } finally {
      this.underway.delete(underway);
    }
  }

  /**
   * A job was cancelled (here, or announced by another broker): a Hello that
   * re-attaches it notes it, and its lease is revoked once held here. Why:
   * when cancel.lua ran just after adopt.lua, the cancellation can be read
   * before adopt.lua's answer, while this broker holds no lease of the job
   * yet, and revoking found nothing to end; the broker the lease came from had
   * lost the worker too, so nobody told it, and it ran the cancelled job to
   * its end, its ack refused as stale.
   */
  heardCancel(jobId: string): void {
    for (const { jobIds, cancelled } of this.underway.keys()) {
      if (jobIds.has(jobId)) cancelled.add(jobId);
    }
  }

  /** Whether a Hello being re-attached names the job. */
  reattaching(jobId: string): boolean {
    for (const { jobIds } of this.underway.keys()) if (jobIds.has(jobId)) return true;
    return false;
  }

  /**
   * Resolves once the Hellos being re-attached now have their leases held
   * here, or refused. Why wait: a lease adopted before its job's
   * cancellation, announced while this broker did not listen, is registered
   * only once adopt.lua's answer is read; looking for the cancelled leases
   * before that (Revocation.revokeCancelledAndFindMoved) missed it, and the
   * worker ran the cancelled job to its end.
   */
  async settled(): Promise<void> {
    await Promise.allSettled(this.underway.values());
  }

  private async adoptAll(
    session: Session,
    inFlight: readonly InFlightRef[],
  ): Promise<{ reattached: string[]; refused: string[] }> {
    const reattached: string[] = [];
    const refused: string[] = [];
    const ours: InFlightRef[] = [];
    const lookups: InFlightRef[] = [];
    // A job named twice is adopted once: each adoption takes a slot of the
    // tenant's in-flight cap, and only one lease would ever give it back.
    const refs = new Map(inFlight.map((ref) => [ref.jobId, ref])).values();
    for (const ref of refs) {
      const lease = this.held.leases.get(ref.jobId);
      // Another token of ours may be a stale copy: Redis tells.
      if (!lease || !names(ref, lease)) lookups.push(ref);
      else if (lease.settling) refused.push(ref.jobId);
      else ours.push(ref);
    }
    const byTenant = new Map<string, string[]>();
    for (const ref of lookups) {
      const ids = byTenant.get(ref.tenant);
      if (ids) ids.push(ref.jobId);
      else byTenant.set(ref.tenant, [ref.jobId]);
    }
    const records = new Map<string, JobRecord>();
    for (const [tenant, ids] of byTenant) {
      if (!isName(tenant)) continue;
      for (const record of await this.deps.store.getJobs(tenant, ids))
        records.set(record.id, record);
    }
    const candidates = lookups.filter((ref) => {
      const record = records.get(ref.jobId);
      const current =
        record !== undefined &&
        record.tenant === ref.tenant &&
        record.state === 'leased' &&
        record.leaseToken === ref.token &&
        record.entry !== '';
      if (!current) refused.push(ref.jobId);
      return current;
    });
    const adopting = [...ours, ...candidates];
    // A lease of another broker brings its slots of the tenant's caps along;
    // one of ours holds them here already.
    const caps = (ref: InFlightRef): Array<string | undefined> => {
      const record = records.get(ref.jobId);
      return record ? this.deps.limits.sharedCaps(record.tenant, record.queue) : [];
    };
    const won = await this.deps.store.adopt(
      adopting.map((ref) => ({
        tenant: ref.tenant,
        jobId: ref.jobId,
        token: ref.token,
        caps: caps(ref),
      })),
      holdingTtls(this.deps.settings.leaseTtlMs),
    );
    adopting.forEach((ref, i) => {
      const held = this.held.leases.get(ref.jobId);
      const record = records.get(ref.jobId);
      if (!won[i]) {
        refused.push(ref.jobId);
      } else if (held && names(ref, held)) {
        // Ours, or another Hello adopted it while this one waited for Redis.
        (this.takeOver(held, ref, session) ? reattached : refused).push(ref.jobId);
      } else if (!record) {
        // Ours, and it ended while Redis answered.
        refused.push(ref.jobId);
      } else {
        const deadline = record.timeoutMs > 0 ? record.leasedAt + record.timeoutMs : 0;
        // One dispatch here; its slot of each shared cap came along in Redis
        // (adopt.lua), and Redis hears of the lease at once (SharedSlots.grew).
        this.deps.limits.onDispatch(record.tenant, record.queue);
        // The reattaching worker holds the job already: no payload to keep.
        const job = withoutPayload(record);
        this.held.register(job, ref.token, record.attempts, deadline, session, record.leasedAt);
        reattached.push(ref.jobId);
      }
    });
    return { reattached, refused };
  }

  /**
   * Moves a lease this broker holds, that `ref` names, to `session` unless it
   * is being settled. A session it leaves is told to stop the job: in Cancel
   * ("lease lost") once welcomed, else by its Welcome refusing it. Why: told
   * nothing, its worker ran the job on beside the new session's, both under
   * the one lease (ack and progress are fenced by the token, not the session).
   */
  private takeOver(lease: Lease, ref: InFlightRef, session: Session): boolean {
    if (!names(ref, lease) || lease.settling) return false;
    const left = lease.session;
    this.held.move(lease, session);
    if (left !== undefined && left !== session) left.loseLease(lease.job.id);
    return true;
  }
}

/** Whether a worker's in-flight `ref` is this lease (its token, of its job's tenant). */
function names(ref: InFlightRef, lease: Lease): boolean {
  return lease.token === ref.token && lease.job.tenant === ref.tenant;
}
