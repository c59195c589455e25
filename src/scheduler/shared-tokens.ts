/** Tokens wanted from the shared bucket of a tenant, or of its override on `queue`. */
export interface TokenRequest {
  readonly tenant: string;
  readonly queue: string | undefined;
  /** Tokens per second, > 0. */
  readonly rate: number;
  /** Bucket size, ≥ 1. */
  readonly size: number;
  /** ≥ 1. */
  readonly wanted: number;
}

/**
 * The tokens this broker holds of a rate-limit bucket that every broker
 * shares (kept in Redis). A dispatch of a rate-limited tenant needs a token
 * of its local bucket (which paces it) and one held here (which keeps all
 * brokers together to the rate). Tokens are taken a few at a time: one round
 * trip per batch, not per job.
 *
 * Held tokens lapse after HOLD_MS: a broker whose backlog of the tenant ran
 * dry cannot keep them and spend them, on top of the others' share, in a burst
 * much later. Lapsed tokens are lost, so several brokers may together
 * dispatch a little less than the rate, never more than rate × t + size.
 */
export class SharedTokens {
  #held = 0;
  #lapsesAt = 0;
  #asking = false;
  #askAgainAt = 0;

  /**
   * 0 when a token is held at `now`; otherwise the clock time to look again.
   * Calls `ask` when more tokens should be requested now (at most one request
   * is out at a time; its answer comes through `answered`).
   */
  blockedUntil(now: number, ask: () => void): number {
    if (this.#held > 0 && now < this.#lapsesAt) return 0;
    this.#held = 0;
    if (!this.#asking && now >= this.#askAgainAt) {
      this.#asking = true;
      ask();
    }
    return this.#asking ? now + ANSWER_PATIENCE_MS : this.#askAgainAt;
  }

  /** One dispatch spent a token. */
  spend(): void {
    if (this.#held > 0) this.#held -= 1;
  }

  /** The answer to a request: tokens granted, else how long until the shared bucket has one. */
  answered(granted: number, waitMs: number, now: number): void {
    this.#asking = false;
    if (granted > 0) {
      this.#held += granted;
      this.#lapsesAt = now + HOLD_MS;
    } else {
      this.#askAgainAt = now + Math.max(MIN_RETRY_MS, waitMs);
    }
  }
}

/** How long granted tokens stay usable. */
export const HOLD_MS = 1000;
/** Batch of tokens asked for: the rate of this long, at least 1, at most the bucket. */
export const BATCH_SECONDS = 0.1;
/**
 * While a request for shared tokens or slots is out, look again after this
 * long anyway; its answer normally comes within a round trip and wakes the
 * tenant sooner.
 */
export const ANSWER_PATIENCE_MS = 1000;
const MIN_RETRY_MS = 1;

/** Tokens to ask for: one batch, or less when fewer jobs wait for them. */
export function tokensWanted(rate: number, size: number, waiting: number): number {
  const batch = Math.min(size, Math.max(1, Math.ceil(rate * BATCH_SECONDS)));
  return Math.max(1, Math.min(batch, waiting));
}
