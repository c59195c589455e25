import type { HoldingTtls, SharedLimits, SlotRequest, TokenRequest } from '../scheduler/index.js';
import type { SharedLimitStore } from '../store/shared-limits.js';
import type { ThrottledWarning, ThrottledWarnings } from './throttled-warning.js';

/** After a failed take of tokens, wait this long before asking Redis again. */
const TOKEN_RETRY_AFTER_ERROR_MS = 1000;

/** Where answers go: the limits that asked. */
export interface SharedLimitAnswers {
  tokens(request: TokenRequest, granted: number, waitMs: number): void;
  slots(request: SlotRequest, usable: number, othersWait: boolean): void;
}

/**
 * Carries the scheduler's requests for shared limits to Redis: the requests
 * of one event-loop turn go as one script call of each kind. A failed call
 * grants nothing: a tenant under a shared limit waits out an outage (its jobs
 * could not be leased meanwhile anyway) and is never let through unlimited.
 */
export class SharedLimitSupply implements SharedLimits {
  private tokenRequests: TokenRequest[] = [];
  private slotRequests: SlotRequest[] = [];
  private flushScheduled = false;
  private readonly tokensFailed: ThrottledWarning;
  private readonly slotsFailed: ThrottledWarning;

  constructor(
    private readonly store: SharedLimitStore,
    private readonly answers: SharedLimitAnswers,
    /** How long this broker's holdings last without a renewal (see holdingTtls). */
    private readonly ttls: HoldingTtls,
    warnings: ThrottledWarnings,
  ) {
    this.tokensFailed = warnings.make(
      'could not take rate-limit tokens from Redis; those tenants wait and retry',
    );
    this.slotsFailed = warnings.make(
      'could not hold in-flight slots in Redis; those tenants wait and retry',
    );
  }

  shareTokens(request: TokenRequest): void {
    this.tokenRequests.push(request);
    this.schedule();
  }

  shareSlots(request: SlotRequest): void {
    this.slotRequests.push(request);
    this.schedule();
  }

  /**
   * Gives up this broker's holdings at once (at shutdown), so no other broker
   * waits for them to lapse; but the slots of leases its workers still hold
   * (`keep`): those run on, and go when the leases are reclaimed, or move
   * with them.
   */
  async releaseSlots(holdings: Iterable<SlotRequest>): Promise<void> {
    const releases = [...holdings].map((request) => ({ ...request, wanted: 0 }));
    if (releases.length > 0) await this.store.holdSlots(releases, this.ttls);
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const tokens = this.tokenRequests.splice(0);
    const slots = this.slotRequests.splice(0);
    if (tokens.length > 0) {
      this.store.takeTokens(tokens).then(
        (grants) =>
          grants.forEach(({ granted, waitMs }, i) =>
            this.answers.tokens(tokens[i]!, granted, waitMs),
          ),
        (error: unknown) => {
          this.tokensFailed.warn({ err: error });
          for (const request of tokens) this.answers.tokens(request, 0, TOKEN_RETRY_AFTER_ERROR_MS);
        },
      );
    }
    if (slots.length > 0) {
      this.store.holdSlots(slots, this.ttls).then(
        (holdings) =>
          holdings.forEach(({ usable, othersWait }, i) =>
            this.answers.slots(slots[i]!, usable, othersWait),
          ),
        (error: unknown) => {
          this.slotsFailed.warn({ err: error });
          for (const request of slots) this.answers.slots(request, 0, false);
        },
      );
    }
  }
}
