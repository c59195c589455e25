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
  /**
   * Tenants left out: those whose jobs the idle workers wait on, buffered
   * there and held back by the tenant's rate limit, in-flight cap or pause.
   * The limits are shared by every broker, so their jobs would start no
   * sooner there; handed over, they only went to the tail of the backlog.
   */
  readonly except?: readonly string[];
}

/** A word of idle room heard from another broker (`from`, its id). */
export interface RoomHeard extends RoomFor {
  readonly from: string;
}

interface Word {
  readonly until: number;
  readonly tenants: ReadonlySet<string> | undefined;
  readonly except: ReadonlySet<string> | undefined;
}

/**
 * What this broker has heard of other brokers' idle workers of one queue:
 * each broker's latest word, until it lapses (ROOM_ELSEWHERE_HELD_MS). Kept
 * per broker: one's word may leave a tenant out that another's takes.
 */
export class RoomElsewhere {
  readonly #words = new Map<string, Word>();

  constructor(private readonly clock: Clock) {}

  heard({ from, tenants, except }: RoomHeard): void {
    const now = this.clock();
    for (const [broker, word] of this.#words) {
      if (word.until <= now) this.#words.delete(broker);
    }
    this.#words.set(from, {
      until: now + ROOM_ELSEWHERE_HELD_MS,
      tenants: tenants && new Set(tenants),
      except: except && new Set(except),
    });
  }

  /**
   * For how long more (ms) the word holds that another broker has idle
   * workers that take the tenant's jobs: 0 when none has.
   */
  heldFor(tenant: string): number {
    let until = 0;
    for (const word of this.#words.values()) {
      const takes = (word.tenants?.has(tenant) ?? true) && !(word.except?.has(tenant) ?? false);
      if (takes && word.until > until) until = word.until;
    }
    return Math.max(0, until - this.clock());
  }
}
