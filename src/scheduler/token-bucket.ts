/**
 * Token bucket: starts full (`burst` tokens), refills continuously at `rate`
 * tokens per second, never holds more than `burst`.
 *
 * Exact over any length of time: the level is never accumulated step by step
 * (adding `elapsed × rate` at every call drifts by a rounding error each
 * time). Instead the bucket keeps a reference point — `base` tokens at clock
 * time `since` — and the integer count of tokens `taken` since then, and
 * computes the level from the elapsed time in one expression:
 *
 *   level(t) = min(burst, base + (t − since) × rate / 1000 − taken)
 *
 * The reference point moves only when the bucket is found full (level is then
 * exactly `burst`) or is reconfigured, so e.g. 50/s over ten minutes yields
 * exactly 30,000 tokens after the initial burst, and the time a token is due
 * is a single division away from integers.
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #since: number;
  #base: number;
  #taken = 0;

  /** @param rate tokens per second, > 0. @param burst bucket size, ≥ 1. @param now clock time in ms. */
  constructor(rate: number, burst: number, now: number) {
    checkShape(rate, burst);
    this.#rate = rate;
    this.#burst = burst;
    this.#since = now;
    this.#base = burst;
  }

  get rate(): number {
    return this.#rate;
  }

  get burst(): number {
    return this.#burst;
  }

  /** Tokens in the bucket at `now` (fractional; negative after a forced take). */
  level(now: number): number {
    const refilled = this.#base + ((now - this.#since) * this.#rate) / 1000 - this.#taken;
    return Math.min(this.#burst, refilled);
  }

  /**
   * Clock time at which the bucket holds one whole token; at or before the
   * time of the last take or reconfiguration when it holds one already. A
   * token is available at `now` exactly when `availableAt() <= now`: the same
   * expression answers both questions, so a wake-up set for this time always
   * finds its token.
   */
  availableAt(): number {
    return this.#timeOfLevel(1);
  }

  /** Takes one token at `now`; with none available the bucket goes into debt. */
  take(now: number): void {
    if (now >= this.#timeOfLevel(this.#burst)) {
      // Full: restart the reference point so the cap is not overshot later.
      this.#since = now;
      this.#base = this.#burst;
      this.#taken = 0;
    }
    this.#taken += 1;
  }

  /** New rate and size from `now` on; the tokens held are kept (capped at the new size). */
  reconfigure(rate: number, burst: number, now: number): void {
    if (rate === this.#rate && burst === this.#burst) return;
    checkShape(rate, burst);
    const level = Math.min(burst, this.level(now));
    this.#rate = rate;
    this.#burst = burst;
    this.#since = now;
    this.#base = level;
    this.#taken = 0;
  }

  #timeOfLevel(level: number): number {
    const missing = level + this.#taken - this.#base;
    return missing <= 0 ? this.#since : this.#since + (missing * 1000) / this.#rate;
  }
}

function checkShape(rate: number, burst: number): void {
  if (!(Number.isFinite(rate) && rate > 0)) {
    throw new RangeError(`token bucket rate must be a finite number > 0, got ${rate}`);
  }
  if (!(Number.isFinite(burst) && burst >= 1)) {
    throw new RangeError(`token bucket burst must be a finite number ≥ 1, got ${burst}`);
  }
}
