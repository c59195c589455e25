import type { Clock } from '../scheduler/index.js';

/**
 * Node runs a timer of more than 2^31 − 1 ms (24.8 days) after 1 ms instead:
 * a job delayed by 30 days made the due timer fire, find nothing due and
 * re-arm every millisecond. A capped timer fires early and re-arms for the rest.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function timerDelay(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

/**
 * When each tenant of a queue is to be looked at again, on one timer. Two kinds
 * of time: a delayed job's run time is the wall clock's (it is stored in Redis
 * and shared by brokers), while a short wait of this broker's own (the end of
 * an arrival yield, the retry of a failed fetch) is the monotonic clock's. On
 * the wall clock, a clock stepped back during such a wait stretched it by the
 * step (an hour's step: an hour's wait, or until a recovery sweep found the
 * tenant).
 */
export class DueTimes {
  readonly #runAt = new Map<string, number>();
  readonly #waitUntil = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires, on the monotonic clock. */
  #timerAt = Infinity;

  constructor(
    private readonly wallClock: Clock,
    private readonly monotonicClock: Clock,
    /**
     * The tenant's time has come; `cameDue`: a job's run time passed (else
     * only a wait of this broker's ended). Why say which: told only "due", a
     * dispatcher that marked its waits could not tell a run time that passed
     * during a wait from the wait's end, and took it for the end.
     */
    private readonly onDue: (tenant: string, cameDue: boolean) => void,
  ) {}

  /** The tenant has a job that runs at `runAt` (wall clock). An earlier time known stays. */
  runAt(tenant: string, runAt: number): void {
    if (this.#keepEarliest(this.#runAt, tenant, runAt)) {
      this.#arm(this.monotonicClock() + runAt - this.wallClock());
    }
  }

  /** Looks at the tenant again in `ms`. An earlier time known stays. */
  after(tenant: string, ms: number): void {
    const until = this.monotonicClock() + ms;
    if (this.#keepEarliest(this.#waitUntil, tenant, until)) this.#arm(until);
  }

  has(tenant: string): boolean {
    return this.#runAt.has(tenant) || this.#waitUntil.has(tenant);
  }

  /** Whether no tenant has a time here. */
  get empty(): boolean {
    return this.#runAt.size === 0 && this.#waitUntil.size === 0;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timerAt = Infinity;
  }

  #keepEarliest(times: Map<string, number>, tenant: string, at: number): boolean {
    const known = times.get(tenant);
    if (known !== undefined && known <= at) return false;
    times.set(tenant, at);
    return true;
  }

  #arm(at: number): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), timerDelay(at - this.monotonicClock()));
  }

  #fire(): void {
    this.#timerAt = Infinity;
    const wallNow = this.wallClock();
    const now = this.monotonicClock();
    const due = new Map<string, boolean>();
    let next = Infinity;
    for (const [tenant, runAt] of this.#runAt) {
      if (runAt <= wallNow) {
        this.#runAt.delete(tenant);
        due.set(tenant, true);
      } else {
        next = Math.min(next, now + runAt - wallNow);
      }
    }
    for (const [tenant, until] of this.#waitUntil) {
      if (until <= now) {
        this.#waitUntil.delete(tenant);
        if (!due.has(tenant)) due.set(tenant, false);
      } else {
        next = Math.min(next, until);
      }
    }
    if (next < Infinity) this.#arm(next);
    for (const [tenant, cameDue] of due) this.onDue(tenant, cameDue);
  }
}
