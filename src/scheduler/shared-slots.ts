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
 * renewed every RENEW_MS and lapse in Redis after HOLDING_TTL_MS without a
 * renewal, so a broker that died blocks the cap for at most that long.
 */
export class SharedSlots {
  #held = 0;
  #othersWait = false;
  #asking = false;
  #askAgainAt = 0;
  /** Leases were adopted while a request was out: Redis is told again once it is answered. */
  #recount = false;
  /** A lease ended as stale while a request was out: its answer may count that slot as free. */
  #forfeited = false;

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
      this.#asking = true;
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
    this.#shrinkTo(inFlight);
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
      this.#shrinkTo(Math.min(this.#held, inFlight));
      return inFlight;
    }
    this.#asking = true;
    return Math.max(this.#held, inFlight);
  }

  /**
   * A lease another broker held was re-attached here; Redis moved a slot to
   * this broker's holding with it (adopt.lua). What to tell Redis now (hold
   * at least the leases in flight), or undefined while a request is out:
   * Redis may answer that one as it was before the adoption, so it is told
   * again after (see recount).
   */
  adopted(inFlight: number): number | undefined {
    if (this.#asking) {
      this.#recount = true;
      return undefined;
    }
    this.#asking = true;
    return Math.max(this.#held, inFlight);
  }

  /** After an answer: what to tell Redis at once for leases adopted while it was on its way. */
  recount(inFlight: number): number | undefined {
    if (!this.#recount) return undefined;
    this.#recount = false;
    return this.adopted(inFlight);
  }

  /**
   * A lease here ended as stale: Redis says it is no longer this broker's (a
   * worker re-attached it to another broker, or it was reclaimed), so it may
   * still run elsewhere, in a slot this broker still holds in Redis. That
   * slot is not used again before Redis has been asked.
   */
  forfeit(inFlight: number): void {
    this.#held = Math.min(this.#held, inFlight);
    if (this.#asking) this.#forfeited = true;
  }

  #shrinkTo(held: number): void {
    this.#held = held;
    this.#asking = true;
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
/** A holding not renewed for this long lapses (its broker is taken for dead). */
export const HOLDING_TTL_MS = 3 * RENEW_MS;
const SLOT_RETRY_MS = 100;
