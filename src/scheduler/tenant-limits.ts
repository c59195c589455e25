/**
 * Limits of each tenant, shared by the schedulers of all queues of one broker:
 * a tenant-wide token bucket and in-flight counter, plus optional per
 * tenant×queue overrides (their own weight, bucket and in-flight cap, applied
 * on top of the tenant-wide ones).
 *
 * Invariant: a tenant's in-flight count is the sum of its per-queue counts. A
 * release only counts if that tenant×queue has a lease in flight, so a late or
 * duplicate release (a lease that expired and was released already) can never
 * push a counter below the real number of leases, and so never lets a
 * scheduler exceed `maxInFlight`.
 *
 * Limits shared by several brokers (given `SharedLimits`): a rate-limited
 * dispatch also needs a token taken from a bucket all brokers share (see
 * SharedTokens); the local bucket paces this broker, the shared one keeps the
 * replicas together to the rate. A dispatch under an in-flight cap also needs
 * a slot of the cap held by this broker (see SharedSlots). Without them (one
 * broker, tests) the local limits alone apply.
 */
import type { Clock } from './clock.js';
import {
  DEFAULT_TENANT_SETTINGS,
  effectiveBurst,
  resolveQueueOverride,
  resolveTenantSettings,
  type TenantSettings,
} from './settings.js';
import { SharedTokens, tokensWanted, type TokenRequest } from './shared-tokens.js';
import { SharedSlots, type SlotCount, type SlotRequest } from './shared-slots.js';
import { TokenBucket } from './token-bucket.js';

interface Limited {
  /** Present when a rate > 0 applies. */
  bucket: TokenBucket | undefined;
  /** Present with `bucket` when tokens are shared with other brokers. */
  tokens: SharedTokens | undefined;
  /** Present when an in-flight cap applies and is shared with other brokers. */
  slots: SharedSlots | undefined;
  inFlight: number;
}

/** How the limits reach the limits other brokers share (Redis, through the broker). */
export interface SharedLimits {
  /** Asks for tokens of a shared bucket; the answer comes through `tokensAnswered`. */
  shareTokens(request: TokenRequest): void;
  /** Changes a holding of shared in-flight slots; the answer comes through `slotsAnswered`. */
  shareSlots(request: SlotRequest): void;
}

/** An in-flight cap shared with other brokers, of a tenant (`queue` undefined) or of its override on `queue`. */
interface SharedCap {
  queue: string | undefined;
  limited: Limited;
  slots: SharedSlots;
}

interface QueueRecord extends Limited {
  override: Readonly<Partial<TenantSettings>> | undefined;
}

interface TenantRecord extends Limited {
  /** undefined = defaults. */
  settings: Readonly<TenantSettings> | undefined;
  readonly queues: Map<string, QueueRecord>;
}

export class TenantLimits {
  readonly #clock: Clock;
  readonly #tenants = new Map<string, TenantRecord>();
  readonly #listeners = new Set<(tenant: string) => void>();
  readonly #shared: SharedLimits | undefined;

  /** @param shared the limits other brokers share; without it, every limit is this broker's own. */
  constructor(clock: Clock, shared?: SharedLimits) {
    this.#clock = clock;
    this.#shared = shared;
  }

  /** Replaces the tenant's settings, live; fields not given (or `undefined`) take their defaults. */
  setTenant(tenant: string, settings: Partial<TenantSettings> | undefined): void {
    const resolved =
      settings === undefined ? undefined : resolveTenantSettings(settings, `tenant "${tenant}"`);
    const record = this.#tenant(tenant);
    record.settings = resolved;
    const { rate, burst } = resolved ?? DEFAULT_TENANT_SETTINGS;
    this.#rebucket(record, rate, burst);
    this.#reslot(record, tenant, undefined, resolved?.maxInFlight ?? 0);
    this.#prune(tenant, record);
    this.#emit(tenant);
  }

  /** Replaces the tenant×queue override, live; `undefined` removes it. */
  setQueueOverride(
    tenant: string,
    queue: string,
    settings: Partial<TenantSettings> | undefined,
  ): void {
    const override =
      settings === undefined
        ? undefined
        : resolveQueueOverride(settings, `override of tenant "${tenant}" on queue "${queue}"`);
    const record = this.#tenant(tenant);
    const perQueue = this.#queue(record, queue);
    perQueue.override = override;
    this.#rebucket(perQueue, override?.rate ?? 0, override?.burst ?? 0);
    this.#reslot(perQueue, tenant, queue, override?.maxInFlight ?? 0);
    this.#prune(tenant, record, queue);
    this.#emit(tenant);
  }

  /** Effective settings of the tenant (overrides aside). */
  settings(tenant: string): Readonly<TenantSettings> {
    return this.#tenants.get(tenant)?.settings ?? DEFAULT_TENANT_SETTINGS;
  }

  /** Dispatches per second allowed for tenant×queue (the slower bucket); Infinity without a rate. */
  rate(tenant: string, queue: string): number {
    const record = this.#tenants.get(tenant);
    return Math.min(
      record?.bucket?.rate ?? Infinity,
      record?.queues.get(queue)?.bucket?.rate ?? Infinity,
    );
  }

  /** Leases tenant×queue may hold at once (the smaller cap); Infinity without one. */
  maxInFlight(tenant: string, queue: string): number {
    const record = this.#tenants.get(tenant);
    return Math.min(
      record?.settings?.maxInFlight || Infinity,
      record?.queues.get(queue)?.override?.maxInFlight || Infinity,
    );
  }

  /** Effective weight: the override's, else the tenant's, else the default. */
  weight(tenant: string, queue: string): number {
    const record = this.#tenants.get(tenant);
    return (
      record?.queues.get(queue)?.override?.weight ??
      record?.settings?.weight ??
      DEFAULT_TENANT_SETTINGS.weight
    );
  }

  /** Whether the tenant, or the tenant on this queue, is paused. */
  paused(tenant: string, queue: string): boolean {
    const record = this.#tenants.get(tenant);
    return (
      record?.settings?.paused === true || record?.queues.get(queue)?.override?.paused === true
    );
  }

  /**
   * 0 when a dispatch of tenant×queue is allowed now; otherwise the clock time
   * when it may be: when the later of the two buckets has a token (or when to
   * look again for a shared token or slot), or Infinity while the tenant or
   * tenant×queue is paused (until its settings change) or an in-flight cap is
   * reached here (until a release). `waiting`, the jobs ready to go, sizes a
   * request for shared tokens or slots.
   */
  blockedUntil(tenant: string, queue: string, waiting = 1): number {
    const record = this.#tenants.get(tenant);
    if (record === undefined) return 0;
    const perQueue = record.queues.get(queue);
    const cap = record.settings?.maxInFlight ?? 0;
    const queueCap = perQueue?.override?.maxInFlight ?? 0;
    if (
      record.settings?.paused === true ||
      perQueue?.override?.paused === true ||
      (cap > 0 && record.inFlight >= cap) ||
      (perQueue && queueCap > 0 && perQueue.inFlight >= queueCap)
    ) {
      return Infinity;
    }
    const now = this.#clock();
    const local = Math.max(record.bucket?.availableAt() ?? 0, perQueue?.bucket?.availableAt() ?? 0);
    if (local > now) return local;
    const shared = Math.max(
      this.#tokensUntil(record, tenant, undefined, now, waiting),
      perQueue ? this.#tokensUntil(perQueue, tenant, queue, now, waiting) : 0,
      this.#slotsUntil(record, tenant, undefined, waiting),
      perQueue ? this.#slotsUntil(perQueue, tenant, queue, waiting) : 0,
    );
    return shared > now ? shared : 0;
  }

  /** The answer to a `shareSlots` request; wakes the tenant's schedulers. */
  slotsAnswered(request: SlotRequest, usable: number, othersWait: boolean): void {
    const limited = this.#limitedOf(request);
    if (limited?.slots === undefined) return;
    const again = limited.slots.answered(usable, othersWait, limited.inFlight, request.wanted);
    this.#askSlots(request.tenant, request.queue, limited, again);
    this.#emit(request.tenant);
  }

  /**
   * The holdings of shared in-flight slots to renew now (every RENEW_MS), so
   * that Redis keeps them and tells whether other brokers wait.
   */
  *slotRenewals(): Iterable<SlotRequest> {
    for (const { tenant, queue, limited, slots } of this.#slotHolders()) {
      const wanted = slots.renewal(limited.inFlight);
      if (wanted !== undefined) yield slotRequest(tenant, queue, slots, wanted, limited.inFlight);
    }
  }

  /** Every shared in-flight cap this broker holds slots of. */
  *slotHoldings(): Iterable<SlotRequest> {
    for (const { tenant, queue, limited, slots } of this.#slotHolders()) {
      if (slots.held > 0) yield slotRequest(tenant, queue, slots, slots.held, limited.inFlight);
    }
  }

  *#slotHolders(): Iterable<SharedCap & { tenant: string }> {
    for (const [tenant, record] of this.#tenants) {
      for (const held of this.#sharedSlotsIn(record, record.queues.keys()))
        yield { tenant, ...held };
    }
  }

  /** The shared caps a lease of tenant×queue counts against. */
  #sharedSlotsOf(tenant: string, queue: string): Iterable<SharedCap> {
    const record = this.#tenants.get(tenant);
    return record === undefined ? [] : this.#sharedSlotsIn(record, [queue]);
  }

  /** The tenant's own shared cap, and those of the overrides of `queues`. */
  *#sharedSlotsIn(record: TenantRecord, queues: Iterable<string>): Iterable<SharedCap> {
    if (record.slots) yield { queue: undefined, limited: record, slots: record.slots };
    for (const queue of queues) {
      const perQueue = record.queues.get(queue);
      if (perQueue?.slots) yield { queue, limited: perQueue, slots: perQueue.slots };
    }
  }

  /** The answer to a `shareTokens` request; wakes the tenant's schedulers. */
  tokensAnswered(request: TokenRequest, granted: number, waitMs: number): void {
    const limited = this.#limitedOf(request);
    if (limited?.tokens === undefined) return;
    limited.tokens.answered(granted, waitMs, this.#clock());
    this.#emit(request.tenant);
  }

  /** The tenant's record, or with a queue its override's; undefined once forgotten. */
  #limitedOf({
    tenant,
    queue,
  }: {
    tenant: string;
    queue: string | undefined;
  }): Limited | undefined {
    const record = this.#tenants.get(tenant);
    return queue === undefined ? record : record?.queues.get(queue);
  }

  /** Records one dispatch: takes a token from each bucket that applies, counts one more in flight. */
  onDispatch(tenant: string, queue: string): void {
    const now = this.#clock();
    const record = this.#tenant(tenant);
    const perQueue = this.#queue(record, queue);
    record.bucket?.take(now);
    perQueue.bucket?.take(now);
    record.tokens?.spend();
    perQueue.tokens?.spend();
    record.inFlight += 1;
    perQueue.inFlight += 1;
    // Redis hears of more leases in flight than it last heard of (see SharedSlots.grew).
    this.#askSlots(tenant, undefined, record, record.slots?.grew(record.inFlight));
    this.#askSlots(tenant, queue, perQueue, perQueue.slots?.grew(perQueue.inFlight));
  }

  /**
   * The in-flight caps of tenant×queue shared with other brokers, each named
   * as its key takes it: undefined for the tenant's own, else the queue's
   * override (see JobStore.adopt, JobStore.reclaim).
   */
  sharedCaps(tenant: string, queue: string): Array<string | undefined> {
    return [...this.#sharedSlotsOf(tenant, queue)].map((held) => held.queue);
  }

  /**
   * The in-flight caps of tenant×queue shared with other brokers, each with the
   * leases in flight here under it (see LeaseWrites.lease).
   */
  slotCounts(tenant: string, queue: string): SlotCount[] {
    return [...this.#sharedSlotsOf(tenant, queue)].map(({ queue, limited, slots }) => ({
      queue,
      cap: slots.cap,
      inFlight: limited.inFlight,
    }));
  }

  /** Records the end of one lease of tenant×queue. Ignored when none is in flight there. */
  onRelease(tenant: string, queue: string): void {
    this.#release(tenant, queue, false);
  }

  /**
   * Records the end of a lease that Redis called stale: no longer this
   * broker's, it may run on at another broker, in a slot still held here
   * (see SharedSlots.forfeit).
   */
  onLeaseLost(tenant: string, queue: string): void {
    this.#release(tenant, queue, true);
  }

  /**
   * Records a dispatch whose lease Redis refused for want of a slot of a
   * shared cap: this broker's slots were fewer than it knew (they lapsed while
   * Redis stalled, or one went along with a lease moved to another broker), so
   * none beyond the leases in flight is used before Redis has been asked again
   * (see SharedSlots.forfeit).
   */
  onLeaseRefused(tenant: string, queue: string): void {
    this.#release(tenant, queue, true);
  }

  #release(tenant: string, queue: string, lost: boolean): void {
    const record = this.#tenants.get(tenant);
    const perQueue = record?.queues.get(queue);
    if (record === undefined || perQueue === undefined || perQueue.inFlight === 0) return;
    perQueue.inFlight -= 1;
    record.inFlight -= 1;
    if (lost) {
      for (const { limited, slots } of this.#sharedSlotsOf(tenant, queue)) {
        slots.forfeit(limited.inFlight);
      }
    }
    this.#giveBackSlots(record, tenant, undefined);
    this.#giveBackSlots(perQueue, tenant, queue);
    this.#prune(tenant, record, queue);
    this.#emit(tenant);
  }

  /** Leases in flight for the tenant, on one queue or (without `queue`) on all. */
  inFlight(tenant: string, queue?: string): number {
    const record = this.#tenants.get(tenant);
    if (queue === undefined) return record?.inFlight ?? 0;
    return record?.queues.get(queue)?.inFlight ?? 0;
  }

  /**
   * Subscribes to "the tenant's limits may now admit more" (a release, a
   * settings change). Listeners run synchronously. Returns the unsubscribe function.
   */
  onChange(listener: (tenant: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #emit(tenant: string): void {
    for (const listener of this.#listeners) listener(tenant);
  }

  /**
   * The buckets for new settings: none when unlimited, else the old ones
   * reconfigured (tokens kept) or full new ones.
   */
  #rebucket(limited: Limited, rate: number, burst: number): void {
    if (rate === 0) {
      limited.bucket = undefined;
      limited.tokens = undefined;
      return;
    }
    const size = effectiveBurst(rate, burst);
    if (limited.bucket === undefined) limited.bucket = new TokenBucket(rate, size, this.#clock());
    else limited.bucket.reconfigure(rate, size, this.#clock());
    if (this.#shared) limited.tokens ??= new SharedTokens();
  }

  /**
   * Shared slots for a new cap: none without one, else the holding kept, and
   * asked of Redis again at once when the cap was lowered (see SharedSlots.recap).
   */
  #reslot(limited: Limited, tenant: string, queue: string | undefined, cap: number): void {
    if (cap === 0 || this.#shared === undefined) limited.slots = undefined;
    else if (limited.slots === undefined) limited.slots = new SharedSlots(cap, this.#clock);
    else this.#askSlots(tenant, queue, limited, limited.slots.recap(cap, limited.inFlight));
  }

  /** 0 when a usable shared slot is held beyond the leases in flight (or none is needed); else when to look again. */
  #slotsUntil(
    limited: Limited,
    tenant: string,
    queue: string | undefined,
    waiting: number,
  ): number {
    const { slots, inFlight } = limited;
    if (slots === undefined) return 0;
    return slots.blockedUntil(inFlight, () =>
      this.#askSlots(tenant, queue, limited, Math.min(slots.cap, inFlight + Math.max(1, waiting))),
    );
  }

  #giveBackSlots(limited: Limited, tenant: string, queue: string | undefined): void {
    if (limited.slots?.givesBack(limited.inFlight)) {
      this.#askSlots(tenant, queue, limited, limited.inFlight);
    }
  }

  /** Asks Redis for `wanted` slots of the cap of `limited`, keeping those of its leases; nothing when undefined. */
  #askSlots(
    tenant: string,
    queue: string | undefined,
    limited: Limited,
    wanted: number | undefined,
  ): void {
    if (limited.slots === undefined || wanted === undefined) return;
    this.#shared?.shareSlots(slotRequest(tenant, queue, limited.slots, wanted, limited.inFlight));
  }

  /** 0 when a shared token is held (or none is needed); else when to look again. */
  #tokensUntil(
    limited: Limited,
    tenant: string,
    queue: string | undefined,
    now: number,
    waiting: number,
  ): number {
    const { bucket, tokens } = limited;
    if (bucket === undefined || tokens === undefined) return 0;
    return tokens.blockedUntil(now, () =>
      this.#shared?.shareTokens({
        tenant,
        queue,
        rate: bucket.rate,
        size: bucket.burst,
        wanted: tokensWanted(bucket.rate, bucket.burst, waiting),
      }),
    );
  }

  #tenant(tenant: string): TenantRecord {
    let record = this.#tenants.get(tenant);
    if (record === undefined) {
      record = {
        settings: undefined,
        bucket: undefined,
        tokens: undefined,
        slots: undefined,
        inFlight: 0,
        queues: new Map(),
      };
      this.#tenants.set(tenant, record);
    }
    return record;
  }

  #queue(record: TenantRecord, queue: string): QueueRecord {
    let perQueue = record.queues.get(queue);
    if (perQueue === undefined) {
      perQueue = {
        override: undefined,
        bucket: undefined,
        tokens: undefined,
        slots: undefined,
        inFlight: 0,
      };
      record.queues.set(queue, perQueue);
    }
    return perQueue;
  }

  /** Forgets records that hold nothing but defaults, so idle tenants cost no memory. */
  #prune(tenant: string, record: TenantRecord, queue?: string): void {
    if (queue !== undefined) {
      const perQueue = record.queues.get(queue);
      if (perQueue?.override === undefined && perQueue?.inFlight === 0) record.queues.delete(queue);
    }
    if (record.settings === undefined && record.queues.size === 0) this.#tenants.delete(tenant);
  }
}

function slotRequest(
  tenant: string,
  queue: string | undefined,
  slots: SharedSlots,
  wanted: number,
  keep: number,
): SlotRequest {
  return { tenant, queue, cap: slots.cap, wanted, keep };
}
