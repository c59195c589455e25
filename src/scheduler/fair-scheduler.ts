/**
 * Fair scheduler of one queue: deficit round-robin (DRR) over tenants.
 *
 * Algorithm
 * - The ring holds the tenants believed dispatchable now (jobs buffered, limits
 *   admitting). `next()` looks at the head. Arriving at the head with deficit
 *   < 1 starts a visit: deficit += quantum × weight. Each dispatch spends 1.
 *   When the deficit falls below 1 the tenant moves to the back. A tenant that
 *   reaches the head with deficit ≥ 1 (it was parked mid-visit) finishes that
 *   visit without a new credit.
 * - Tenants that cannot be dispatched are PARKED outside the ring, so `next()`
 *   never scans them, with their deficit capped at quantum × weight (no burst
 *   after un-parking):
 *     IDLE       nothing buffered; rejoins on `setAvailable(t, n > 0)`;
 *     THROTTLED  out of tokens; rejoins when its token is due, found lazily by
 *                `next()` at the top of a min-heap of wake times;
 *     SATURATED  at maxInFlight, or paused; rejoins on `TenantLimits.onChange`
 *                (a release or a settings change, possibly from another queue).
 *   Limits are shared with the other queues' schedulers, so they are checked
 *   again when a tenant reaches the head; one that turned out blocked is parked
 *   there and `next()` goes on with the following tenant (work-conserving: a
 *   throttled tenant never holds capacity).
 * - Joining is at the back, so a new tenant is served within one round (with
 *   quantum × weight ≥ 1; with less, within ⌈1 / (quantum × weight)⌉ rounds).
 *
 * Cost. Every ring step either dispatches, parks a tenant (paid for by the
 * event that un-parked it), or credits a tenant whose quantum × weight < 1
 * (at most ⌈1 / (quantum × weight)⌉ per dispatch). So `next()` without a
 * filter is O(1) amortized however many tenants are known, plus O(log n) per
 * heap wake-up. With an `accept` filter it walks the ring past the tenants it
 * refuses: O(ring).
 *
 * Fairness bound. While every tenant is backlogged and unthrottled, after T
 * dispatches tenant i has had served_i with
 *     | served_i − T × w_i / Σw | ≤ quantum × w_i (+ 1 when quantum × w_i is fractional)
 * at every point: a round gives each tenant quantum × w_i dispatches (the
 * fractional remainder carries over, < 1), so rounds are exact and within a
 * round a tenant is ahead or behind by at most its own quantum.
 *
 * For integer quantum × w_i the visits are contiguous blocks, which tightens
 * this to quantum × w_i × (1 − w_i / Σw).
 *
 * Measured (test/scheduler/fairness.test.ts and scale.test.ts; every point of
 * 10,000 dispatches checked, all tenants backlogged):
 *   weights         quantum  max |served − share| per tenant   min Jain (from dispatch #)  visits/dispatch
 *   1 : 2 : 5       1        0.875 / 1.25 / 1.875              0.9988 (100)                1
 *   1 : 2 : 5       4        3.5   / 5    / 7.5                0.9804 (100), 0.9998 (1000) 1
 *   0.5 : 1 : 1.5   1        0.5   / 0.67 / 1.0                0.9996 (100)                1.17
 *   0.25 : 0.5      1        0.33  / 0.33                      0.9999 (100)                2.67
 *   0.3 : 1.7 : 2.2 1        0.86  / 1.36 / 1.05               0.9974 (100)                1.17
 *   Served after 10,000 with 1 : 2 : 5: exactly 1,250 / 2,500 / 6,250 (Jain 1.0).
 *   Work: 1 visit per dispatch with 10 busy tenants among 20 or among 10,000
 *   (the rest idle, throttled or at maxInFlight); 2.8 visits per dispatch
 *   (wake-up + dispatch + park) with 10 or 10,000 tenants all throttled at 1/s.
 */
import type { Clock } from './clock.js';
import type { TenantLimits } from './tenant-limits.js';
import { TenantRing, type RingLinks } from './tenant-ring.js';
import { WakeHeap, type WakeItem } from './wake-heap.js';

export interface FairSchedulerOptions {
  /** The queue this scheduler dispatches for (the key of per-queue overrides). */
  queue: string;
  /** Limits shared by the schedulers of all queues. */
  limits: TenantLimits;
  clock: Clock;
  /** Credit per visit, multiplied by the tenant's weight; > 0. @default 1 */
  quantum?: number;
  /** Told when a tenant with work is held back by its limits (for the `throttled` metric). */
  onHeldBack?: (tenant: string, state: 'THROTTLED' | 'SATURATED') => void;
}

/**
 * Where a tenant stands: READY in the ring; parked as IDLE (nothing buffered),
 * THROTTLED (waiting for a token, in the wake heap) or SATURATED (at maxInFlight,
 * or paused).
 */
export type TenantState = 'READY' | 'IDLE' | 'THROTTLED' | 'SATURATED';

interface TenantEntry extends RingLinks<TenantEntry> {
  readonly tenant: string;
  available: number;
  deficit: number;
  state: TenantState;
  /** Sequence number of its live wake-heap item while THROTTLED, else -1. */
  wakeSeq: number;
}

/** Rebuild the wake heap once stale items are more than half of it (and this many). */
const COMPACT_MIN_ITEMS = 64;

export class FairScheduler {
  readonly queue: string;
  readonly quantum: number;
  readonly #limits: TenantLimits;
  readonly #clock: Clock;
  readonly #entries = new Map<string, TenantEntry>();
  readonly #ring = new TenantRing<TenantEntry>();
  readonly #wakes = new WakeHeap<TenantEntry>();
  readonly #unsubscribe: () => void;
  readonly #onHeldBack: FairSchedulerOptions['onHeldBack'];
  #throttled = 0;
  #visits = 0;
  #joins = 0;

  constructor(options: FairSchedulerOptions) {
    const quantum = options.quantum ?? 1;
    if (!(Number.isFinite(quantum) && quantum > 0)) {
      throw new RangeError(`quantum must be a finite number > 0, got ${quantum}`);
    }
    this.queue = options.queue;
    this.quantum = quantum;
    this.#limits = options.limits;
    this.#clock = options.clock;
    this.#onHeldBack = options.onHeldBack;
    this.#unsubscribe = this.#limits.onChange((tenant) => this.#limitsChanged(tenant));
  }

  /** Number of tenants known (in the ring or parked), for stats. */
  get size(): number {
    return this.#entries.size;
  }

  /** Tenants in the ring (believed dispatchable now), for stats. */
  get ready(): number {
    return this.#ring.length;
  }

  /**
   * Tenants in the ring once those whose token is due now have joined it: 0
   * means no dispatch is possible now, for any `accept`.
   */
  readyNow(): number {
    this.#wakeDue(this.#clock());
    return this.#ring.length;
  }

  /**
   * How many times a tenant has entered the ring so far (new jobs, a release
   * under its cap, its token due). Between two readings with no entry, only
   * the tenants already in the ring could be dispatched: a session that a
   * round left with free slots can get nothing more until its own room grows.
   */
  get joins(): number {
    return this.#joins;
  }

  /**
   * Entries examined so far: ring steps, tenants refused by `accept`, wake-heap
   * items popped. A deterministic measure of work, for tests and metrics.
   */
  get visits(): number {
    return this.#visits;
  }

  /** Where the tenant stands, undefined when unknown. */
  stateOf(tenant: string): TenantState | undefined {
    return this.#entries.get(tenant)?.state;
  }

  /** The dispatcher has `count` jobs buffered for tenant (0 = none right now, but it may still have work in Redis). */
  setAvailable(tenant: string, count: number): void {
    if (!(Number.isSafeInteger(count) && count >= 0)) {
      throw new RangeError(
        `available count of tenant "${tenant}" must be an integer ≥ 0, got ${count}`,
      );
    }
    let entry = this.#entries.get(tenant);
    if (entry === undefined) {
      entry = {
        tenant,
        available: 0,
        deficit: 0,
        state: 'IDLE',
        wakeSeq: -1,
        prev: undefined,
        next: undefined,
      };
      this.#entries.set(tenant, entry);
    }
    entry.available = count;
    if (count === 0) this.#park(entry, 'IDLE');
    else if (entry.state === 'IDLE') this.#join(entry);
  }

  /** Tenant has no work at all: leave the ring, forget its deficit. */
  remove(tenant: string): void {
    const entry = this.#entries.get(tenant);
    if (entry === undefined) return;
    this.#park(entry, 'IDLE');
    this.#entries.delete(tenant);
  }

  /**
   * Picks the tenant for ONE dispatch, or undefined, and applies it: deficit
   * −1, available −1, `limits.onDispatch`. `accept` restricts the choice (a
   * session dedicated to some tenants). When this returns undefined without a
   * filter, every throttled tenant is in the wake heap, so `nextWakeAt()` is
   * complete.
   */
  next(accept?: (tenant: string) => boolean): string | undefined {
    this.#wakeDue(this.#clock());
    const chosen = accept === undefined ? this.#nextAny() : this.#nextAccepted(accept);
    return chosen?.tenant;
  }

  /**
   * Earliest clock time at which a throttled tenant with jobs available gets
   * its token (possibly already past: call `next()`), or undefined if none.
   * Tenants at maxInFlight are not counted: a release wakes them.
   */
  nextWakeAt(): number | undefined {
    for (let item = this.#wakes.peek(); item !== undefined; item = this.#wakes.peek()) {
      if (isLive(item)) return item.at;
      this.#wakes.pop();
    }
    return undefined;
  }

  /** Stops listening to the limits; call when the queue's scheduler is dropped. */
  dispose(): void {
    this.#unsubscribe();
  }

  #nextAny(): TenantEntry | undefined {
    for (let entry = this.#ring.head; entry !== undefined; entry = this.#ring.head) {
      if (this.#visit(entry)) return entry;
    }
    return undefined;
  }

  /**
   * The accepted tenants keep their order in the ring and are served by the
   * same DRR steps; refused ones are stepped over without a credit. Laps end
   * when one walk of the ring credited nobody.
   */
  #nextAccepted(accept: (tenant: string) => boolean): TenantEntry | undefined {
    let credited = false;
    let entry = this.#ring.head;
    for (;;) {
      if (entry === undefined) {
        if (!credited) return undefined;
        credited = false;
        entry = this.#ring.head;
        continue;
      }
      const following: TenantEntry | undefined = entry.next;
      if (accept(entry.tenant)) {
        if (this.#visit(entry)) return entry;
        if (entry.state === 'READY') credited = true;
      } else {
        this.#visits += 1;
      }
      entry = following;
    }
  }

  /** One DRR step on a tenant in the ring: true when it was dispatched. */
  #visit(entry: TenantEntry): boolean {
    this.#visits += 1;
    const blockedUntil = this.#limits.blockedUntil(entry.tenant, this.queue, entry.available);
    if (blockedUntil !== 0) {
      const state = blockedUntil === Infinity ? 'SATURATED' : 'THROTTLED';
      this.#park(entry, state, blockedUntil);
      this.#onHeldBack?.(entry.tenant, state);
      return false;
    }
    if (entry.deficit < 1) {
      entry.deficit += this.#share(entry);
      if (entry.deficit < 1) {
        this.#ring.moveToBack(entry);
        return false;
      }
    }
    entry.deficit -= 1;
    entry.available -= 1;
    this.#limits.onDispatch(entry.tenant, this.queue);
    if (entry.available === 0) this.#park(entry, 'IDLE');
    else if (entry.deficit < 1) this.#ring.moveToBack(entry);
    return true;
  }

  #share(entry: TenantEntry): number {
    return this.quantum * this.#limits.weight(entry.tenant, this.queue);
  }

  /** Takes the tenant out of the ring (or out of another parked state) with its deficit capped. */
  #park(entry: TenantEntry, state: Exclude<TenantState, 'READY'>, wakeAt = Infinity): void {
    this.#leaveState(entry);
    entry.deficit = Math.min(entry.deficit, this.#share(entry));
    entry.state = state;
    if (state === 'THROTTLED') {
      entry.wakeSeq = this.#wakes.push(wakeAt, entry);
      this.#throttled += 1;
      this.#compactWakes();
    }
  }

  /** Puts a parked tenant at the back of the ring. */
  #join(entry: TenantEntry): void {
    if (entry.state === 'READY') return;
    this.#leaveState(entry);
    entry.state = 'READY';
    this.#ring.pushBack(entry);
    this.#joins += 1;
  }

  #leaveState(entry: TenantEntry): void {
    if (entry.state === 'READY') {
      this.#ring.remove(entry);
    } else if (entry.state === 'THROTTLED') {
      entry.wakeSeq = -1; // its heap item is now stale
      this.#throttled -= 1;
    }
  }

  #limitsChanged(tenant: string): void {
    const entry = this.#entries.get(tenant);
    if (entry === undefined) return;
    // A lowered weight applies to the visit under way: a tenant lowered from
    // weight 1000 mid-visit went on alone for the 4,000 dispatches its old
    // weight had credited. Without a change the deficit stays below share + 1.
    const share = this.#share(entry);
    if (entry.deficit >= share + 1) entry.deficit = share;
    if (entry.state === 'THROTTLED' || entry.state === 'SATURATED') this.#join(entry);
  }

  /** Moves the tenants whose token is due back into the ring. */
  #wakeDue(now: number): void {
    for (
      let item = this.#wakes.peek();
      item !== undefined && item.at <= now;
      item = this.#wakes.peek()
    ) {
      this.#wakes.pop();
      this.#visits += 1;
      if (isLive(item)) this.#join(item.value);
    }
  }

  #compactWakes(): void {
    const length = this.#wakes.length;
    if (length > COMPACT_MIN_ITEMS && length > 2 * this.#throttled) this.#wakes.retain(isLive);
  }
}

function isLive(item: WakeItem<TenantEntry>): boolean {
  return item.value.state === 'THROTTLED' && item.value.wakeSeq === item.seq;
}
