import type { Clock } from './clock.js';
import { ANSWER_PATIENCE_MS } from './shared-tokens.js';

/** A change of this broker's holding of a tenant's (or tenant×queue's) shared in-flight slots. */
export interface SlotRequest {
  readonly tenant: string;
  readonly queue: string | undefined;
  /** maxInFlight, ≥ 1. */
  readonly cap: number;
  /** Slots this broker wants to use in all. */
  readonly wanted: number;
  /** Slots it holds at least: its leases in flight (they cannot be taken back). */
  readonly keep: number;
}

/** A shared in-flight cap a lease counts against, and this broker's leases in flight under it. */
export interface SlotCount {
  /** The queue of a tenant×queue override's cap; undefined for the tenant's own. */
  readonly queue: string | undefined;
  readonly cap: number;
  readonly inFlight: number;
}

/**
 * This broker's share of a tenant's in-flight cap (`maxInFlight`) when several
 * brokers serve it. Every broker records the slots it holds in Redis
 * (hold_slots.lua), and Redis answers how many of them it may use: the
 * usable slots of all brokers never add up to more than the cap, so neither
 * do their leases. A dispatch needs a usable slot beyond the leases in
 * flight; when it has none, the broker asks for more (one request out at a
 * time), and asks again after SLOT_RETRY_MS when refused.
 *
 * A broker holds at least the slots of its leases in flight (they cannot be
 * taken back), so once a cap was lowered the holdings may exceed it; Redis
 * then answers fewer usable slots than a broker's leases, or none. A slot
 * freed above the usable ones is not used again but given back to Redis at
 * once, so the holdings shrink to the cap as those leases end. A cap lowered
 * here is asked of Redis again at once (see recap).
 *
 * Slots are not handed back at every release, which would cost a Redis call
 * per job: a broker keeps what it may use until Redis says other brokers are
 * waiting, and then gives back each slot its releases free. Holdings are
 * renewed every RENEW_MS. Without a renewal a holding lapses in Redis after
 * HOLDING_TTL_MS down to the slots of its leases, which lapse only later
 * (see holdingTtls): the leases of a broker that died run on at its workers,
 * in those slots, until they are re-attached elsewhere (taking their slots
 * along) or reclaimed (freeing them). So a lease's slot is counted in Redis
 * as the lease is written (lease.lua), and Redis is told at once when more
 * leases are in flight than it last heard of (see grew, whose request also
 * renews the holding): a slot dispatched in since the last renewal then
 * outlives the broker too.
 *
 * The spare slots (usable beyond the leases) are used only while Redis still
 * keeps them: for USABLE_MS after the request that Redis answered with them
 * was sent, a renewal's worth less than they last there. A broker that did not
 * renew for longer (its event loop held up, its requests stuck behind a slow
 * Redis) asks again before it uses them. Why: its spare slots may have
 * lapsed in Redis and gone to another broker, and on waking it would fill
 * them before its renewal's answer came, running more than the cap. What it
 * cannot see, a lease written after a Redis stall let its spare slots lapse
 * and go elsewhere, Redis checks as it writes the lease (lease.lua): refused,
 * it ends here as forfeited (see TenantLimits.onLeaseRefused).
 */
export class SharedSlots {
  #cap: number;
  /** Slots this broker may fill with leases: Redis's latest answer, cut to the leases where it may be too many. */
  #usable = 0;
  #othersWait = false;
  #asking = false;
  #askAgainAt = 0;
  /** Leases came (dispatched or adopted) while a request was out: Redis is told again once it is answered. */
  #recount = false;
  /** A lease ended as stale while a request was out: its answer may count that slot as free. */
  #forfeited = false;
  /** The cap was lowered while a request was out: its answer, reckoned with the old cap, is asked again. */
  #recapped = false;
  /** The leases in flight the latest request told Redis of (the slots it keeps for them). */
  #told = 0;
  /** When the request out (or the one last answered) was sent. */
  #askedAt = 0;
  /** Until when the spare usable slots are surely still this broker's in Redis. */
  #usableUntil = 0;

  constructor(
    cap: number,
    private readonly clock: Clock,
  ) {
    this.#cap = cap;
  }

  /** maxInFlight, ≥ 1. */
  get cap(): number {
    return this.#cap;
  }

  /** Slots Redis holds for this broker, as far as it knows: its leases as last told, or more it may use. */
  get held(): number {
    return Math.max(this.#told, this.#usable);
  }

  /**
   * 0 when a usable slot beyond the `inFlight` leases is held; otherwise when
   * to look again. Calls `ask` when more slots should be requested now.
   */
  blockedUntil(inFlight: number, ask: () => void): number {
    const now = this.clock();
    const spare = inFlight < this.#usable;
    if (spare && now < this.#usableUntil) return 0;
    if (!this.#asking && (spare || now >= this.#askAgainAt)) {
      this.#ask(inFlight);
      ask();
    }
    return this.#asking ? now + ANSWER_PATIENCE_MS : this.#askAgainAt;
  }

  /**
   * After a release: whether to give the freed slots back now: other brokers
   * wait for them, or they are above the usable ones (the holdings exceed the
   * cap). They are given up here at once: a dispatch before Redis has the
   * smaller holding must not use them.
   */
  givesBack(inFlight: number): boolean {
    if (this.#asking || this.held <= inFlight) return false;
    if (!this.#othersWait && inFlight < this.#usable) return false;
    this.#shrinkTo(inFlight);
    return true;
  }

  /**
   * What to tell Redis at a renewal: keep the holding; shrink it to the leases
   * while others wait; give it up when no lease is in flight (an idle tenant
   * costs no renewals, and its next dispatch asks again).
   */
  renewal(inFlight: number): number | undefined {
    if (this.#asking || (this.held === 0 && inFlight === 0)) return undefined;
    if (this.#othersWait || inFlight === 0) {
      this.#shrinkTo(inFlight);
      return inFlight;
    }
    this.#ask(inFlight);
    return Math.max(this.#usable, inFlight);
  }

  /**
   * After a dispatch, or a lease another broker held re-attached here (Redis
   * moved its slot to this broker's holding, see adopt.lua): what to tell
   * Redis now when more leases are in flight than it last heard of (hold at
   * least those), else undefined. Undefined too while a request is out, which
   * Redis may answer as it was before: it is told once that one is answered.
   */
  grew(inFlight: number): number | undefined {
    if (inFlight <= this.#told) return undefined;
    if (this.#asking) {
      this.#recount = true;
      return undefined;
    }
    this.#ask(inFlight);
    return Math.max(this.#usable, inFlight);
  }

  /**
   * The cap changed to `cap`: what to ask Redis now, else undefined. Lowered,
   * the slots usable under the old cap may be more than the new one leaves
   * this broker: none beyond the leases in flight is used before Redis has
   * answered with the new cap, asked now, or once the request out is
   * answered. Raised, the slots usable stay so, and the next dispatch that
   * needs more asks at once.
   */
  recap(cap: number, inFlight: number): number | undefined {
    if (cap === this.#cap) return undefined;
    const lowered = cap < this.#cap;
    this.#cap = cap;
    if (!lowered) {
      this.#askAgainAt = 0;
      return undefined;
    }
    if (!this.#asking) return this.#askRecapped(this.#usable, inFlight);
    this.#usable = Math.min(this.#usable, inFlight);
    this.#recapped = true;
    return undefined;
  }

  /**
   * A lease here ended as stale: Redis says it is no longer this broker's (a
   * worker re-attached it to another broker, or it was reclaimed), so it may
   * still run elsewhere, in a slot this broker still holds in Redis. That
   * slot is not used again before Redis has been asked (which also tells it
   * of the leases here: adopt.lua may have taken that one off its count).
   */
  forfeit(inFlight: number): void {
    this.#usable = Math.min(this.#usable, inFlight);
    if (this.#asking) this.#forfeited = true;
  }

  /**
   * The answer to a request for `wanted` slots: the slots usable now, and
   * whether other brokers wait for slots. Returns what to ask Redis at once
   * (the cap was lowered, or leases came, while the answer was on its way),
   * else undefined. A refusal (fewer slots than wanted) holds the next
   * request back for SLOT_RETRY_MS, and so does any answer while other brokers
   * wait: the slots this broker gives back are theirs to take first (asking
   * again at once, it took them back, and a broker whose requests were
   * refused got none for seconds). A holding given up or shrunk while no one
   * waits is no refusal: held back after it, the tenant's next job, come
   * within the 100 ms, waited out the rest of them (a capped tenant that went
   * idle between jobs waited about 90 ms at its p99, BENCHMARKS.md).
   */
  answered(
    usable: number,
    othersWait: boolean,
    inFlight: number,
    wanted: number,
  ): number | undefined {
    this.#asking = false;
    this.#othersWait = othersWait;
    this.#usableUntil = this.#askedAt + USABLE_MS;
    if (this.#recapped) return this.#askRecapped(usable, inFlight);
    this.#usable = this.#forfeited ? Math.min(usable, inFlight) : usable;
    this.#forfeited = false;
    if (this.#usable <= inFlight && (usable < wanted || othersWait)) {
      this.#askAgainAt = this.clock() + SLOT_RETRY_MS;
    }
    if (!this.#recount) return undefined;
    this.#recount = false;
    return this.grew(inFlight);
  }

  /**
   * Asks again under a lowered cap, for the slots usable under the old one
   * (`usable`) within the new one; meanwhile none beyond the leases is used.
   */
  #askRecapped(usable: number, inFlight: number): number {
    this.#recapped = false;
    this.#forfeited = false;
    this.#recount = false;
    this.#usable = Math.min(usable, inFlight);
    this.#ask(inFlight);
    return Math.min(this.#cap, Math.max(usable, inFlight));
  }

  /** No slot beyond the `inFlight` leases is used, and Redis is told so. */
  #shrinkTo(inFlight: number): void {
    this.#usable = Math.min(this.#usable, inFlight);
    this.#ask(inFlight);
  }

  /** A request goes to Redis, telling it of `inFlight` leases. */
  #ask(inFlight: number): void {
    this.#asking = true;
    this.#told = inFlight;
    this.#askedAt = this.clock();
  }
}

/** How often a broker renews its holdings (and learns whether others wait). */
export const RENEW_MS = 1000;
/** A holding not renewed for this long lapses (its broker is taken for dead) down to its leased slots. */
export const HOLDING_TTL_MS = 3 * RENEW_MS;
/**
 * How long after its request an answer's spare slots are used: Redis keeps
 * them HOLDING_TTL_MS from when it ran the request, at the earliest when it was
 * sent; the renewal a dispatch brings about (see grew) gets a RENEW_MS to
 * reach Redis before they would lapse.
 */
export const USABLE_MS = HOLDING_TTL_MS - RENEW_MS;
const SLOT_RETRY_MS = 100;

/** How long a holding lasts in Redis without a renewal (see hold_slots.lua). */
export interface HoldingTtls {
  /** Its wants and spare slots. */
  readonly holdingMs: number;
  /** The slots of its leases in flight. */
  readonly leasesMs: number;
}

/**
 * How often a broker sweeps each queue it serves for the entries of holders
 * that died (broker/recovery.ts), given the lease TTL: twice per TTL.
 */
export function sweepIntervalMs(leaseTtlMs: number): number {
  return Math.max(250, leaseTtlMs / 2);
}

/**
 * The TTLs of the holdings of a broker whose leases last `leaseTtlMs`. Its
 * spare slots lapse after HOLDING_TTL_MS, so a dead broker holds no idle
 * capacity for longer. The slots of its leases go when the recovery sweep
 * reclaims those (reclaim.lua) or a worker re-attaches them elsewhere
 * (adopt.lua); their lapse by time is the backstop when no broker sweeps
 * their queue (none has a worker of it). It must not come before the sweep:
 * the job still counted as leased, its worker maybe running it, while other
 * brokers dispatched into its slot. The broker renewed the leases' entries
 * last up to a RENEW_MS after its holdings (it died in between), and the
 * first sweep after they idled for a lease TTL takes them: a sweep interval
 * later at most, and one more for a sweep that runs late or long (one of
 * 50,000 tenants takes seconds).
 */
export function holdingTtls(leaseTtlMs: number): HoldingTtls {
  return {
    holdingMs: HOLDING_TTL_MS,
    leasesMs: Math.max(HOLDING_TTL_MS, RENEW_MS + leaseTtlMs + 2 * sweepIntervalMs(leaseTtlMs)),
  };
}
