import type { JobStoreContext } from './job-store-context.js';
import { runScript, sendBatch } from './scripts.js';
import type { TenantIndexes } from './tenant-indexes.js';
import type { DeadLetterAction } from './types.js';

/** Dead jobs taken out of their dead letter queue: replayed, or deleted for good. */
export class DeadLetters {
  constructor(
    private readonly context: JobStoreContext,
    private readonly indexes: TenantIndexes,
  ) {}

  /**
   * Takes the named jobs out of a dead letter queue: replays them (back to
   * their ready stream with a fresh attempt budget) or deletes them for good.
   * Says which were not dead there.
   */
  async takeDead(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    jobIds: readonly string[],
  ): Promise<{ taken: number; notFound: string[] }> {
    const { taken, notFound } = await this.runTakeDead(action, tenant, queue, 0, '', jobIds);
    return { taken, notFound };
  }

  /**
   * Takes up to `limit` of the oldest dead jobs out, of those that died by
   * `diedBy` ('' = by the newest death now). Answers the bound it used, for
   * the next call of a pass in steps, and how many dead-set entries it looked at.
   */
  async takeOldestDead(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    limit: number,
    diedBy: string,
  ): Promise<{ taken: number; looked: number; diedBy: string }> {
    const reply = await this.runTakeDead(action, tenant, queue, limit, diedBy, []);
    return { taken: reply.taken, looked: reply.taken + reply.notFound.length, diedBy: reply.bound };
  }

  private async runTakeDead(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    limit: number,
    diedBy: string,
    jobIds: readonly string[],
  ): Promise<{ taken: number; notFound: string[]; bound: string }> {
    const { redis } = this.context;
    const keys = [this.context.keys.dead(tenant, queue)];
    const now = this.context.now();
    const args = [
      this.context.keys.jobBase(tenant),
      this.context.deadExpiredBy(now),
      limit,
      diedBy,
      now,
      ...jobIds,
    ];
    let reply: [number, string, ...string[]];
    if (action === 'delete') {
      reply = (await runScript(redis, 'delete_dead', keys, args)) as typeof reply;
    } else {
      // Marked first, on its own: a full Redis refuses the SADD, and so nothing
      // is replayed. The script would not be refused (its first write, a ZREM,
      // adds no memory, and Redis then lets the rest of it write).
      await this.indexes.markActive(queue, tenant);
      [reply] = (await sendBatch(redis, (batch) => {
        batch.script('replay', keys, args);
        this.indexes.reindexTenants(batch, queue, [tenant]);
      })) as [typeof reply];
    }
    const [taken, bound, ...notFound] = reply;
    return { taken: Number(taken), notFound: notFound.map(String), bound: String(bound) };
  }
}
