import { groupBy, type JobStoreContext } from './job-store-context.js';
import { GROUP } from './keys.js';
import { sendPacked } from './packed.js';
import { sendBatch } from './scripts.js';
import type { FetchedJob, ReclaimOutcome } from './types.js';

/**
 * Most stale entries one reclaim call takes per stream; past that many in all,
 * it stops (the rest is sent again in a further call), so one call never fails
 * thousands of leases while Redis waits.
 */
const RECLAIM_LIMIT = 200;
/**
 * Most XAUTOCLAIMs of one reclaim call, each looking at up to 10 × RECLAIM_LIMIT
 * pending entries: 20,000 at most, live ones included, before the call stops
 * and the rest is sent again.
 */
const RECLAIM_SCANS = 10;
/**
 * Entries one XCLAIM renews. The ids go to ioredis as call arguments: a
 * stream's 200,000 held entries in one call overflowed the call stack.
 */
const RENEW_BATCH = 1000;

export interface HeldEntry {
  readonly tenant: string;
  readonly queue: string;
  readonly priority: number;
  readonly entry: string;
}

/**
 * The entries brokers hold in the ready streams' pending lists: taken over
 * from a broker that died (reclaim), kept from that while this one lives
 * (renew), and given back when it stops (release).
 */
export class Recovery {
  constructor(private readonly context: JobStoreContext) {}

  /**
   * Takes over entries idle longer than `minIdleMs` (their holder died), for
   * each tenant of a queue, in one round trip (more when a call reached its
   * bounds, RECLAIM_LIMIT or RECLAIM_SCANS: those tenants are sent again from
   * where it stopped, so every entry is looked at once per call of this);
   * also says what each has left. A lease reclaimed takes its slot of each
   * in-flight cap off its holder's holding (reclaim.lua): the caps `capsOf`
   * names for its tenant on `queue`, each as `Keys.slots` takes it (a queue,
   * or undefined for the tenant's own).
   */
  async reclaim(
    queue: string,
    tenants: readonly string[],
    minIdleMs: number,
    now: number,
    capsOf: (tenant: string) => ReadonlyArray<string | undefined>,
  ): Promise<ReclaimOutcome[]> {
    const { redis, keys, options } = this.context;
    const capKeys = tenants.map((tenant) =>
      capsOf(tenant).map((capQueue) => keys.slots(tenant, capQueue)),
    );
    const outcomes = tenants.map(() => ({
      requeued: 0,
      retrying: 0,
      dead: 0,
      nextRunAt: undefined as number | undefined,
      unread: false,
      pending: 0,
    }));
    const shared = [
      options.consumer,
      minIdleMs,
      now,
      Math.random(),
      options.deadRetentionMs,
      RECLAIM_LIMIT,
      RECLAIM_SCANS,
    ];
    const from = tenants.map(() => ({ level: '-inf', entry: '0-0' }));
    for (let left = tenants.map((_, index) => index); left.length > 0;) {
      const groups = left.map((index) => ({
        routingKey: keys.levels(tenants[index]!, queue),
        header: [],
        items: [index],
      }));
      const replies = await sendPacked(redis, 'reclaim', shared, groups, (index, args) => {
        const tenant = tenants[index]!;
        const { level, entry } = from[index]!;
        const caps = capKeys[index]!;
        args.push(keys.queueBase(tenant, queue), keys.jobBase(tenant), level, entry);
        args.push(caps.length, ...caps);
      });
      const unfinished: number[] = [];
      for (const reply of replies) {
        reply.items.forEach((index, k) => {
          const values = reply.values.slice(8 * k, 8 * k + 8);
          const [requeued, retrying, dead, nextRunAt, unread, pending] = values.map(Number);
          const outcome = outcomes[index]!;
          outcome.requeued += requeued ?? 0;
          outcome.retrying += retrying ?? 0;
          outcome.dead += dead ?? 0;
          outcome.unread ||= unread === 1;
          outcome.pending += pending ?? 0;
          const entry = String(values[7] ?? '');
          if (entry === '') {
            outcome.nextRunAt = nextRunAt !== undefined && nextRunAt >= 0 ? nextRunAt : undefined;
          } else {
            from[index] = { level: String(values[6]), entry };
            unfinished.push(index);
          }
        });
      }
      left = unfinished;
    }
    return outcomes;
  }

  /**
   * Gives back jobs this broker read ahead and will not lease, or leased under
   * `tokens[i]` and will not send (release.lua): each still waiting on its
   * entry, or still under that lease, goes to the tail of its ready stream,
   * for any broker. Answers, per job in order, whether it was given back.
   */
  async release(jobs: readonly FetchedJob[], tokens?: readonly string[]): Promise<boolean[]> {
    if (jobs.length === 0) return [];
    const { keys } = this.context;
    const groups = [...groupBy(jobs, (job) => `${job.queue}\n${job.tenant}`).values()].map(
      (indexes) => {
        const { tenant, queue } = jobs[indexes[0]!]!;
        return {
          routingKey: keys.levels(tenant, queue),
          header: [keys.queueBase(tenant, queue), keys.jobBase(tenant)],
          items: indexes,
        };
      },
    );
    const replies = await sendPacked(this.context.redis, 'release', [], groups, (index, args) => {
      const job = jobs[index]!;
      args.push(job.id, job.entry, job.priority, tokens?.[index] ?? '');
    });
    const released = new Array<boolean>(jobs.length).fill(false);
    for (const { items, values } of replies) {
      values.forEach((value, k) => (released[items[k]!] = Number(value) === 1));
    }
    return released;
  }

  /**
   * Resets the idle time of entries this broker holds (buffered or leased), one
   * XCLAIM … JUSTID per stream, so other brokers' reclaim leaves them alone.
   * Answers the entries of streams Redis no longer has (NOGROUP), which none
   * can renew again, and why they are gone. Either Redis lost its keys
   * (restarted without persistence, failed over to an empty replica, or
   * flushed), or their jobs ended without this broker (it hung past the lease
   * TTL: another broker reclaimed and ran them) and a fetch then found their
   * tenant×queue idle and deleted its streams (retire.lua). A Redis that lost
   * its keys lost the mark a starting broker leaves (`keysKeptMark`) with them.
   * Any other error fails the call.
   */
  async renew(entries: Iterable<HeldEntry>): Promise<RenewOutcome> {
    const { redis, keys, options } = this.context;
    const byStream = new Map<string, HeldEntry[]>();
    for (const held of entries) {
      const stream = keys.ready(held.tenant, held.queue, held.priority);
      const list = byStream.get(stream);
      if (list) list.push(held);
      else byStream.set(stream, [held]);
    }
    const gone = new Set<string>();
    if (byStream.size === 0) return { gone: [], keysLost: false };
    await sendBatch(redis, (batch) => {
      for (const [stream, held] of byStream) {
        for (let i = 0; i < held.length; i += RENEW_BATCH) {
          const some = held.slice(i, i + RENEW_BATCH).map(({ entry }) => entry);
          const reply = redis.call('XCLAIM', stream, GROUP, options.consumer, 0, ...some, 'JUSTID');
          batch.add(
            reply.catch((error: unknown) => {
              if (!(error instanceof Error && error.message.startsWith('NOGROUP '))) throw error;
              gone.add(stream);
            }),
          );
        }
      }
    });
    if (gone.size === 0) return { gone: [], keysLost: false };
    const keysLost = (await redis.exists(keys.keysKeptMark())) === 0;
    return { gone: [...gone].flatMap((stream) => byStream.get(stream) ?? []), keysLost };
  }
}

/** Held entries a renewal found without their stream, and whether Redis lost its keys (see Recovery.renew). */
export interface RenewOutcome {
  readonly gone: HeldEntry[];
  readonly keysLost: boolean;
}
