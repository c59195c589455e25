import type { HeldEntry } from '../store/job-store.js';
import { Acknowledgements } from './acknowledgements.js';
import { BrokerError } from './errors.js';
import { Grants } from './grants.js';
import { HeldLeases, type LeaseManagerDeps } from './held-leases.js';
import { checkCapacity, checkHello, type HelloInput } from './hello.js';
import { newSessionId } from './ids.js';
import { Reattachment } from './reattach.js';
import { Revocation } from './revocation.js';
import { Session, type SessionTransport } from './session.js';

/** Who opens a session, as the gRPC edge authenticated it. */
export interface SessionCaller {
  /** For logs: its token's log id (name or digest prefix), or that auth is off. */
  readonly id: string;
  /** The tenants its token may act for; undefined = every tenant. */
  readonly tenants: ReadonlySet<string> | undefined;
}

/**
 * Sessions and their leases: the heartbeat contract.
 *
 * Every message from a worker proves its session alive. A session silent for
 * the lease TTL is closed. When a session closes (silence, stream error, or the
 * worker hanging up) its leases become orphans: a reconnecting worker can
 * re-attach them with Hello.in_flight, and those still orphaned lease TTL after
 * the holder's last sign of life expire as failed attempts. Independently, the
 * broker renews its claim on every entry it holds in Redis (one XCLAIM per
 * stream per tick), so brokers only reclaim each other's entries when the
 * holder itself has died.
 *
 * This class keeps the sessions and is what the rest of the broker calls; the
 * leases are in HeldLeases, and each way a lease moves in a part of its own:
 * Grants (granted and sent), Acknowledgements (acked by the worker),
 * Revocation (ended without it), Reattachment (taken back by a reconnecting
 * worker).
 */
export class LeaseManager {
  private readonly sessions = new Map<string, Session>();
  private readonly held: HeldLeases;
  private readonly grants: Grants;
  private readonly acks: Acknowledgements;
  private readonly revocation: Revocation;
  private readonly reattachment: Reattachment;

  constructor(private readonly deps: LeaseManagerDeps) {
    this.held = new HeldLeases(deps, (lease) => this.revocation.timedOut(lease));
    this.grants = new Grants(deps, this.held);
    this.acks = new Acknowledgements(deps, this.held);
    this.revocation = new Revocation(deps, this.held);
    this.reattachment = new Reattachment(deps, this.held);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions connected and the leases they can hold in all. */
  capacity(): { sessions: number; capacity: number } {
    let capacity = 0;
    for (const session of this.sessions.values()) capacity += session.capacity;
    return { sessions: this.sessions.size, capacity };
  }

  async open(
    hello: HelloInput,
    transport: SessionTransport,
    caller: SessionCaller,
  ): Promise<Session> {
    const { settings } = this.deps;
    checkHello(hello, settings.maxSessionCapacity);
    const tenants = hello.tenants.length > 0 ? new Set(hello.tenants) : undefined;
    const session = new Session(
      newSessionId(),
      hello.workerId,
      [...new Set(hello.queues)],
      tenants,
      caller.tenants,
      hello.capacity,
      this.deps.livenessClock(),
      transport,
    );
    const { reattached, refused, cancelled } = await this.reattachment.reattach(
      session,
      hello.inFlight,
    );
    this.sessions.set(session.id, session);
    session.welcome({
      kind: 'welcome',
      sessionId: session.id,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      leaseTtlMs: settings.leaseTtlMs,
      reattached,
      refused,
    });
    for (const queue of session.queues) this.deps.dispatcher(queue).addSession(session);
    // After Welcome, so the worker knows its session before it hears of a
    // job of it cancelled (a job refused or settled meanwhile has no lease here).
    for (const jobId of cancelled) this.revocation.revoke(jobId, 'cancelled');
    this.deps.logger.info(
      {
        sessionId: session.id,
        workerId: session.workerId,
        caller: caller.id,
        queues: session.queues,
        capacity: session.capacity,
      },
      'worker session opened',
    );
    return session;
  }

  /** Any message from the worker. */
  touch(session: Session): void {
    session.lastSeenAt = this.deps.livenessClock();
  }

  heartbeat(session: Session): void {
    this.touch(session);
    session.send({ kind: 'heartbeatAck', now: this.deps.clock() });
  }

  credit(session: Session, capacity: number): void {
    this.touch(session);
    checkCapacity(capacity, this.deps.settings.maxSessionCapacity, 0);
    session.capacity = capacity;
    this.grants.pumpQueues(session);
  }

  drain(session: Session): void {
    this.touch(session);
    if (session.state === 'OPEN') session.state = 'DRAINING';
  }

  /** The stream ended, failed or the session went silent: its leases become orphans. */
  close(session: Session, error?: Error): void {
    if (session.state === 'CLOSED') return;
    session.state = 'CLOSED';
    this.sessions.delete(session.id);
    for (const queue of session.queues) this.deps.dispatcher(queue).removeSession(session);
    for (const lease of session.leases.values()) this.held.orphan(lease, session.lastSeenAt);
    session.leases.clear();
    session.transport.close(error);
    this.deps.logger.info(
      { sessionId: session.id, workerId: session.workerId, error: error?.message },
      'worker session closed',
    );
  }

  /** The job was cancelled (here or on another broker): its lease is revoked, also one being re-attached. */
  revoke(...args: Parameters<Revocation['revoke']>): void {
    this.reattachment.heardCancel(args[0]);
    this.revocation.revoke(...args);
  }

  /**
   * A worker re-attached the lease of `jobId` under `token` to another broker
   * (adopt.lua announced it): it ends here as stale (its slots of the tenant's
   * caps forfeited, see TenantLimits.onLeaseLost) and the session that held
   * it, if any, is told to stop the job. Redis says whether the lease is still
   * ours once no Hello here is re-attaching it: it may have come back here
   * (A → B → A) since the announcement was sent.
   */
  async moved(jobId: string, token: string): Promise<void> {
    for (;;) {
      await this.reattachment.settled();
      const lease = this.held.leases.get(jobId);
      if (!lease || lease.token !== token || lease.settling) return;
      let ours: boolean;
      try {
        ours = await this.deps.store.holdsLease(lease.job.tenant, jobId, token);
      } catch (error) {
        // Left as before: it ends with its session, or when its worker acks it.
        this.deps.logger.warn({ err: error, jobId }, 'could not look up a lease moved elsewhere');
        return;
      }
      // A Hello here took it back while Redis answered: asked again once that is settled.
      if (this.reattachment.reattaching(jobId)) continue;
      if (ours || this.held.leases.get(jobId) !== lease || lease.settling) return;
      lease.session?.loseLease(jobId);
      this.held.finish(lease, { result: 'stale', cause: 'moved' });
      return;
    }
  }

  /**
   * Catches up on the announcements lost while the pub/sub connection was
   * down (see Revocation.revokeCancelledAndFindMoved): revokes the leases
   * whose job was cancelled, and lets go of those moved to another broker or
   * session as `moved` does, those being re-attached too once held (see
   * Reattachment.settled).
   */
  async catchUpAnnouncements(): Promise<void> {
    await this.reattachment.settled();
    const moved = await this.revocation.revokeCancelledAndFindMoved();
    await Promise.all(moved.map((lease) => this.moved(lease.job.id, lease.token)));
  }

  // The parts' own methods, forwarded (their comments are there); a message
  // from the worker proves its session alive first.

  grant(...args: Parameters<Grants['grant']>): void {
    this.grants.grant(...args);
  }

  deliver(...args: Parameters<Grants['deliver']>): void {
    this.grants.deliver(...args);
  }

  pumpQueues(session: Session): void {
    this.grants.pumpQueues(session);
  }

  acknowledge(...args: Parameters<Acknowledgements['acknowledge']>): Promise<void> {
    this.touch(args[0]);
    return this.acks.acknowledge(...args);
  }

  progress(...args: Parameters<Acknowledgements['progress']>): Promise<void> {
    this.touch(args[0]);
    return this.acks.progress(...args);
  }

  /** Closes silent sessions and expires orphans whose holder has been gone a lease TTL. */
  sweep(): void {
    const now = this.deps.livenessClock();
    const ttl = this.deps.settings.leaseTtlMs;
    for (const session of this.sessions.values()) {
      if (now - session.lastSeenAt > ttl) {
        this.close(
          session,
          new BrokerError(
            'unavailable',
            `no message from the worker for ${ttl} ms (lease TTL); session closed`,
          ),
        );
      }
    }
    this.revocation.expireOrphans(now);
  }

  /** Every entry held for a lease, for renewal in Redis. */
  heldEntries(): Iterable<HeldEntry> {
    return this.held.entries();
  }

  /** Broker shutdown begins: no more leases; workers are told to finish within the grace period. */
  drainAll(graceMs: number): void {
    for (const session of this.sessions.values()) {
      if (session.state === 'OPEN') session.state = 'DRAINING';
      session.send({ kind: 'drain', graceMs });
    }
  }

  /** Leases held by open sessions, and acks being written (what a draining broker waits for). */
  get heldByWorkers(): number {
    let held = this.held.recording.size;
    for (const session of this.sessions.values()) held += session.leases.size;
    return held;
  }

  /** Broker shutdown: close every stream, keep the leases in Redis for recovery. */
  stop(error: Error): void {
    this.held.stopped = true;
    for (const session of [...this.sessions.values()]) this.close(session, error);
    this.held.leaveAll();
  }
}
