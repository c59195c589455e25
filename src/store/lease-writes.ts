import type { HoldingTtls, SlotCount } from '../scheduler/index.js';
import { groupBy, type JobStoreContext } from './job-store-context.js';
import { sendPacked } from './packed.js';
import { runScript, sendBatch } from './scripts.js';
import type { AckOutcome, FailOutcome, FetchedJob } from './types.js';

/** A lease a worker re-attached, to be held by this broker (see LeaseWrites.adopt). */
export interface AdoptedLease {
  readonly tenant: string;
  readonly jobId: string;
  readonly token: string;
  /** The in-flight caps whose slot it takes along: a queue's override, or undefined for the tenant's. */
  readonly caps: ReadonlyArray<string | undefined>;
}

/** The in-flight caps shared by the brokers that leases count against (see LeaseWrites.lease). */
export interface LeaseSlots {
  /** The shared caps of tenant×queue, each with this broker's leases in flight under it, those being written included. */
  caps(tenant: string, queue: string): readonly SlotCount[];
  readonly ttls: HoldingTtls;
}

/** LeaseWrites.lease's answer for a job refused for want of a slot of a shared in-flight cap. */
export const NO_SLOT = -1;

const ACK_OUTCOMES: Record<number, AckOutcome> = { 0: 'ok', 1: 'stale', 2: 'unknown' };

/**
 * The writes of a lease, each fenced by its token: taken (lease), held by this
 * broker after a re-attach (adopt), reported on (progress), and ended by the
 * worker's ack (complete, fail).
 */
export class LeaseWrites {
  constructor(private readonly context: JobStoreContext) {}

  /**
   * Turns fetched jobs into leases under the given tokens, all in one round
   * trip (one script per tenant×queue). Returns each job's attempt number, 0
   * when skipped, or NO_SLOT when refused: its tenant×queue is under an
   * in-flight cap shared by the brokers (`slots.caps`; none without `slots`),
   * and the holdings in Redis leave this broker no slot for it (see
   * lease.lua). Each lease written under such a cap holds its slot in Redis
   * at once, for `slots.ttls`.
   */
  async lease(
    grants: ReadonlyArray<{ job: FetchedJob; token: string }>,
    now: number,
    slots?: LeaseSlots,
  ): Promise<number[]> {
    const { keys } = this.context;
    const groups = [...groupBy(grants, ({ job }) => `${job.tenant}\n${job.queue}`).values()].map(
      (indexes) => {
        const { tenant, queue } = grants[indexes[0]!]!.job;
        const jobBase = keys.jobBase(tenant);
        const caps = slots?.caps(tenant, queue) ?? [];
        const trailer = [
          caps.length,
          ...caps.flatMap((c) => [keys.slots(tenant, c.queue), c.cap, c.inFlight]),
        ];
        return { routingKey: jobBase, header: [jobBase], items: indexes, trailer: () => trailer };
      },
    );
    const shared = [now, this.context.options.consumer, slots?.ttls.leasesMs ?? 0];
    const replies = await sendPacked(this.context.redis, 'lease', shared, groups, (index, args) => {
      const { job, token } = grants[index]!;
      args.push(job.id, job.entry, token, job.attempts + 1);
    });
    const attempts = new Array<number>(grants.length).fill(0);
    for (const { items, values } of replies) {
      values.forEach((leased, k) => {
        const index = items[k]!;
        const reply = Number(leased);
        if (reply === 1) attempts[index] = grants[index]!.job.attempts + 1;
        else if (reply === 2) attempts[index] = NO_SLOT;
      });
    }
    return attempts;
  }

  /**
   * Records completions (complete.lua). `resent`: these same acks went out
   * before in a call that failed, which may have recorded them all the same.
   *
   * A second run of an ack (this one, or ioredis sending the command again on
   * a new connection when the reply to the first did not come on the old one)
   * is answered 'ok' by the script, except when the first run deleted the job
   * (completed retention 0, or a retention shorter than the wait): Redis then
   * says 'no such job', which here means that run completed it. Only a job
   * cancelled, and deleted, before the first run (a race with CancelJob while
   * the connection dropped) would be taken for completed.
   */
  async complete(
    acks: ReadonlyArray<{
      tenant: string;
      queue: string;
      jobId: string;
      token: string;
      result: Buffer;
      resultContentType: string;
      entry: string;
      priority: number;
    }>,
    now: number,
    resent = false,
  ): Promise<AckOutcome[]> {
    if (acks.length === 0) return [];
    const { redis, keys, options } = this.context;
    const connection = redis.stream;
    const groups = [...groupBy(acks, (ack) => ack.tenant).values()].map((indexes) => {
      const tenant = acks[indexes[0]!]!.tenant;
      return {
        routingKey: keys.jobBase(tenant),
        header: [keys.tenantBase(tenant)],
        items: indexes,
      };
    });
    const shared = [now, options.completedRetentionMs, options.consumer];
    const replies = await sendPacked(redis, 'complete', shared, groups, (index, args) => {
      const ack = acks[index]!;
      args.push(
        ack.jobId,
        ack.queue,
        ack.token,
        ack.result,
        ack.resultContentType,
        ack.entry,
        ack.priority,
      );
    });
    // ioredis sends a call again on its next connection when the one it went
    // out on closed before the reply: on a new connection, it may have run twice.
    const sentBefore = resent || redis.stream !== connection;
    const outcomes = new Array<AckOutcome>(acks.length);
    for (const { items, values } of replies) {
      values.forEach((code, k) => {
        const outcome = ACK_OUTCOMES[Number(code)] ?? 'unknown';
        outcomes[items[k]!] = outcome === 'unknown' && sentBefore ? 'ok' : outcome;
      });
    }
    return outcomes;
  }

  async fail(
    failures: ReadonlyArray<{
      tenant: string;
      queue: string;
      jobId: string;
      token: string;
      message: string;
      retryable: boolean;
      retryAfterMs: number;
    }>,
    now: number,
  ): Promise<FailOutcome[]> {
    if (failures.length === 0) return [];
    const { keys, options } = this.context;
    const replies = await sendBatch(this.context.redis, (batch) => {
      for (const failure of failures) {
        batch.script(
          'fail',
          [keys.job(failure.tenant, failure.jobId)],
          [
            keys.queueBase(failure.tenant, failure.queue),
            failure.jobId,
            failure.token,
            now,
            failure.message,
            failure.retryable ? 1 : 0,
            failure.retryAfterMs,
            Math.random(),
            options.deadRetentionMs,
            options.consumer,
          ],
        );
      }
    });
    return replies.map((reply) => {
      const [code, outcome, runAt] = (reply as number[]).map(Number);
      if (code === 1) return { kind: 'stale' };
      if (code === 2) return { kind: 'unknown' };
      return outcome === 1 ? { kind: 'retrying', runAt: runAt! } : { kind: 'dead' };
    });
  }

  /**
   * Makes this broker the holder of leases re-attached here; false where the
   * lease is not current. A lease another broker held is renewed here in the
   * same step (its stream entry moves to this broker), and moves its slot of
   * each of its `caps` from that broker's holding to this one's (adopt.lua):
   * the in-flight caps it counts against, each named as `Keys.slots` takes it
   * (a queue, or undefined for the tenant's own), in holdings that lapse after
   * `ttls`.
   */
  async adopt(leases: ReadonlyArray<AdoptedLease>, ttls: HoldingTtls): Promise<boolean[]> {
    if (leases.length === 0) return [];
    const { keys } = this.context;
    const replies = await sendBatch(this.context.redis, (batch) => {
      for (const lease of leases) {
        batch.script(
          'adopt',
          [keys.job(lease.tenant, lease.jobId)],
          [
            lease.token,
            this.context.options.consumer,
            keys.tenantBase(lease.tenant),
            ttls.holdingMs,
            ttls.leasesMs,
            keys.movedLeases(),
            lease.jobId,
            ...lease.caps.map((queue) => keys.slots(lease.tenant, queue)),
          ],
        );
      }
    });
    return replies.map((reply) => Number(reply) === 1);
  }

  async progress(
    tenant: string,
    jobId: string,
    token: string,
    data: Buffer,
    contentType: string,
  ): Promise<AckOutcome> {
    const code = await runScript(
      this.context.redis,
      'progress',
      [this.context.keys.job(tenant, jobId)],
      [token, data, contentType],
    );
    return ACK_OUTCOMES[Number(code)] ?? 'unknown';
  }
}
