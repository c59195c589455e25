import { ANSWER_PATIENCE_MS } from './shared-tokens.js';

/** A change of this broker's holding of a tenant's (or tenant×queue's) shared in-flight slots. */
export interface SlotRequest {
  readonly tenant: string;
  readonly queue: string | undefined;
  /** maxInFlight, ≥ 1. */
  readonly cap: number;
  /** Slots this broker wants to hold in all. */
  readonly wanted: number;
  /** Slots it holds at least: its leases in flight (they cannot be taken back). */
  readonly keep: number;
}

/**
 * This broker's share of a tenant's in-flight cap (`maxInFlight`) when several
 * brokers serve it. Every broker records the slots it holds in Redis
 * (hold_slots.lua): the holdings of all brokers never add up to more than the
 * cap, so neither do their leases. A dispatch needs a held slot beyond the
 * leases in flight; when it has none, the broker asks for more (one request
 * out at a time), and asks again after SLOT_RETRY_MS when refused.
 *
 * Slots are not handed back at every release, which would cost a Redis call
 * per job: a broker keeps what it holds until Redis says other brokers are
 * waiting, and then gives back each slot its releases free. Holdings are
 * renewed every RENEW_MS. Without a renewal a holding lapses in Redis after
 * HOLDING_TTL_MS down to the slots of its leases, which lapse only later
 * (see holdingTtls): the leases of a broker that died run on at its workers,
 * in those slots, until they are re-attached elsewhere (taking their slots
 * along) or reclaimed (freeing them). So Redis is told at once when more
 * leases are in flight than it last heard of (see grew): a slot dispatched in
 * since the last renewal then outlives the broker too.
 */
export class SharedSlots {
  #held = 0;
  #othersWait = false;
  #asking = false;
  #askAgainAt = 0;
  /** Leases came (dispatched or adopted) while a request was out: Redis is told again once it is answered. */
  #recount = false;
  /** A lease ended as stale while a request was out: its answer may count that slot as free. */
  #forfeited = false;
  /** The leases in flight the latest request told Redis of (the slots it keeps for them). */
  #told = 0;

  get held(): number {
    return this.#held;
  }

  /**
   * 0 when a slot beyond the `inFlight` leases is held; otherwise when to look
   * again. Calls `ask` when more slots should be requested now.
   */
  blockedUntil(now: number, inFlight: number, ask: () => void): number {
    if (inFlight < this.#held) return 0;
    if (!this.#asking && now >= this.#askAgainAt) {
      this.#ask(inFlight);
      ask();
    }
    return this.#asking ? now + ANSWER_PATIENCE_MS : this.#askAgainAt;
  }

  /**
   * After a release: whether to give the freed slots back now (other brokers
   * wait for them). They are given up here at once: a dispatch before Redis
   * has the smaller holding must not use them.
   */
  givesBack(inFlight: number): boolean {
    if (!this.#othersWait || this.#asking || this.#held <= inFlight) return false;
    this.#shrinkTo(inFlight, inFlight);
    return true;
  }

  /**
   * What to tell Redis at a renewal: keep the holding; shrink it to the leases
   * while others wait; give it up when no lease is in flight (an idle tenant
   * costs no renewals, and its next dispatch asks again).
   */
  renewal(inFlight: number): number | undefined {
    if (this.#asking || (this.#held === 0 && inFlight === 0)) return undefined;
    if (this.#othersWait || inFlight === 0) {
      this.#shrinkTo(Math.min(this.#held, inFlight), inFlight);
      return inFlight;
    }
    this.#ask(inFlight);
    return Math.max(this.#held, inFlight);
  }

  /**
   * After a dispatch, or a lease another broker held re-attached here (Redis
   * moved its slot to this broker's holding, see adopt.lua): what to tell
   * Redis now when more leases are in flight than it last heard of (hold at
   * least those), else undefined. Undefined too while a request is out, which
   * Redis may answer as it was before: it is told once that one is answered
   * (see recount).
   */
  grew(inFlight: number): number | undefined {
    if (inFlight <= this.#told) return undefined;
    if (this.#asking) {
      this.#recount = true;
      return undefined;
    }
    this.#ask(inFlight);
    return Math.max(this.#held, inFlight);
  }

  /** After an answer: what to tell Redis at once of leases that came while it was on its way. */
  recount(inFlight: number): number | undefined {
    if (!this.#recount) return undefined;
    this.#recount = false;
    return this.grew(inFlight);
  }

  /**
   * A lease here ended as stale: Redis says it is no longer this broker's (a
   * worker re-attached it to another broker, or it was reclaimed), so it may
   * still run elsewhere, in a slot this broker still holds in Redis. That
   * slot is not used again before Redis has been asked (which also tells it
   * of the leases here: adopt.lua may have taken that one off its count).
   */
  forfeit(inFlight: number): void {
    this.#held = Math.min(this.#held, inFlight);
    if (this.#asking) this.#forfeited = true;
  }

  #shrinkTo(held: number, inFlight: number): void {
    this.#held = held;
    this.#ask(inFlight);
  }

  /** A request goes to Redis, telling it of `inFlight` leases. */
  #ask(inFlight: number): void {
    this.#asking = true;
    this.#told = inFlight;
  }

  /** The answer to a request: the holding now, and whether other brokers wait for slots. */
  answered(held: number, othersWait: boolean, now: number, inFlight: number): void {
    this.#asking = false;
    this.#held = this.#forfeited ? Math.min(held, inFlight) : held;
    this.#forfeited = false;
    this.#othersWait = othersWait;
    if (this.#held <= inFlight) this.#askAgainAt = now + SLOT_RETRY_MS;
  }
}

/** How often a broker renews its holdings (and learns whether others wait). */
export const RENEW_MS = 1000;
/** A holding not renewed for this long lapses (its broker is taken for dead) down to its leased slots. */
export const HOLDING_TTL_MS = 3 * RENEW_MS;
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
