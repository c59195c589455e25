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
    if (this.#asking || this.#held === 0) return undefined;
    if (this.#othersWait || inFlight === 0) {
      this.#shrinkTo(Math.min(this.#held, inFlight));
      return inFlight;
    }
    this.#asking = true;
    return Math.max(this.#held, inFlight);
  }

  #shrinkTo(held: number): void {
    this.#held = held;
    this.#asking = true;
  }

  /** The answer to a request: the holding now, and whether other brokers wait for slots. */
  answered(held: number, othersWait: boolean, now: number, inFlight: number): void {
    this.#asking = false;
    this.#held = held;
    this.#othersWait = othersWait;
    if (held <= inFlight) this.#askAgainAt = now + SLOT_RETRY_MS;
  }
}

/** How often a broker renews its holdings (and learns whether others wait). */
export const RENEW_MS = 1000;
/** A holding not renewed for this long lapses (its broker is taken for dead). */
export const HOLDING_TTL_MS = 3 * RENEW_MS;
const SLOT_RETRY_MS = 100;
