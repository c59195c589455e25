import type { Clock } from '../scheduler/index.js';

/**
 * How long another broker's word that it has idle workers of a queue holds
 * (it says so when its workers run out of work, and each second after while
 * they wait; see QueueDispatcher.tellIdleRoom).
 */
export const ROOM_ELSEWHERE_HELD_MS = 2_500;

/**
 * Whom a broker's idle workers of a queue take: every tenant (`tenants`
 * undefined), or only those of its dedicated workers. Why say: told only
 * "room", a broker handed the jobs of every tenant to a broker whose idle
 * workers took none of them, took them back a moment later and handed them
 * over again at the next word, each time behind the rest of the backlog.
 */
export interface RoomFor {
  readonly tenants?: readonly string[];
}

/**
 * What this broker has heard of other brokers' idle workers of one queue,
 * per tenant they take, until the word lapses (ROOM_ELSEWHERE_HELD_MS).
 */
export class RoomElsewhere {
  #forAnyUntil = 0;
  readonly #forTenantUntil = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  heard({ tenants }: RoomFor): void {
    const now = this.clock();
    const until = now + ROOM_ELSEWHERE_HELD_MS;
    if (tenants === undefined) {
      this.#forAnyUntil = until;
      return;
    }
    for (const [tenant, heldUntil] of this.#forTenantUntil) {
      if (heldUntil <= now) this.#forTenantUntil.delete(tenant);
    }
    for (const tenant of tenants) this.#forTenantUntil.set(tenant, until);
  }

  /**
   * For how long more (ms) the word holds that another broker has idle
   * workers that take the tenant's jobs: 0 when none has.
   */
  heldFor(tenant: string): number {
    const until = Math.max(this.#forAnyUntil, this.#forTenantUntil.get(tenant) ?? 0);
    return Math.max(0, until - this.clock());
  }
}
