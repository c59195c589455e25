import type { JobStoreContext } from './job-store-context.js';
import { runScript } from './scripts.js';
import type { CancelOutcome, JobState } from './types.js';

/** Jobs cancelled before they end: one by its id, or a queue's waiting jobs in steps (a purge). */
export class Cancellation {
  constructor(private readonly context: JobStoreContext) {}

  async cancel(tenant: string, jobId: string, now: number): Promise<CancelOutcome> {
    const { keys } = this.context;
    const reply = (await runScript(
      this.context.redis,
      'cancel',
      [keys.job(tenant, jobId)],
      [keys.tenantBase(tenant), jobId, now, this.context.options.completedRetentionMs],
    )) as [number, string?, string?];
    if (reply[0] === 0) return { kind: 'not_found' };
    if (reply[0] === 1) return { kind: 'ended', state: reply[1] as JobState };
    return { kind: 'cancelled', previous: reply[1] as JobState, queue: reply[2] ?? '' };
  }

  /**
   * One step of a purge (purge.lua): cancels up to `limit` of the jobs of a
   * tenant×queue that wait (ready, delayed or retrying) and were created by
   * `createdBy`. Begin with cursor ''; repeat with the cursor answered until
   * it is ''.
   */
  async purgeStep(
    tenant: string,
    queue: string,
    createdBy: number,
    now: number,
    limit: number,
    cursor: string,
  ): Promise<{ purged: number; cursor: string }> {
    const { keys } = this.context;
    const [purged, next] = (await runScript(
      this.context.redis,
      'purge',
      [keys.delayed(tenant, queue)],
      [
        keys.queueBase(tenant, queue),
        keys.jobBase(tenant),
        createdBy,
        now,
        this.context.options.completedRetentionMs,
        limit,
        cursor,
      ],
    )) as [number, string];
    return { purged: Number(purged), cursor: String(next) };
  }
}
