import type { DeadLetterAction, JobState } from '../store/types.js';
import type { BrokerContext } from './broker-context.js';
import { retireIfEmptied } from './emptied.js';
import { BrokerError, coerceError, invalidArgument } from './errors.js';
import { JobPages, type JobPage } from './job-pages.js';
import { checkJobId } from './job-status.js';
import type { ServedQueues } from './served-queues.js';
import { checkName, checkQueue } from './validation.js';

/** Dead jobs replayed or deleted per script call. */
const DEAD_LETTER_STEP = 500;
/**
 * Job ids one ReplayDeadLetters or DeleteDeadLetters call may name. Its
 * answer lists the ids not found: with millions named (the broker takes large
 * requests) that list passed a client's default 4 MiB receive limit, and the
 * client saw an error for a call that had done its work. 10,000 ids of 64
 * characters answer in under 1 MiB.
 */
export const MAX_DEAD_LETTER_IDS = 10_000;
/** Jobs a purge step looks at: a few ms of Redis, so other clients are not held up long. */
const PURGE_STEP = 500;
/** Not-found ids a failed step's message lists; the rest are counted. Job ids are up to 64 characters. */
const LISTED_NOT_FOUND = 20;

/**
 * The operator calls that work in steps, by the word their messages use for
 * them, and how a step that fails part way names the jobs the steps before
 * took: in the status message, and as the field (`count`) of the warn log.
 */
const STEPPED_CALLS = {
  purge: { rpc: 'PurgeQueue', jobs: 'jobs', verb: 'cancel', done: 'cancelled', count: 'purged' },
  replay: {
    rpc: 'ReplayDeadLetters',
    jobs: 'dead jobs',
    verb: 'replay',
    done: 'replayed',
    count: 'replayed',
  },
  delete: {
    rpc: 'DeleteDeadLetters',
    jobs: 'dead jobs',
    verb: 'delete',
    done: 'deleted',
    count: 'deleted',
  },
} as const;

interface SteppedCall {
  readonly kind: keyof typeof STEPPED_CALLS;
  readonly tenant: string;
  readonly queue: string;
  /** The jobs the steps took so far. */
  readonly taken: () => number;
  /** Counts the jobs taken in the metrics (once, when the steps end, at least one taken). */
  readonly counted: (taken: number) => void;
  /**
   * Of the job ids the call named, those the steps so far found not dead
   * (absent for a call over all the jobs). A call made again answers the ids
   * the steps before took as not found too, so only a failed call's message
   * can tell them from ids that never named a dead job.
   */
  readonly notFound?: () => readonly string[];
}

/**
 * What an operator does with the jobs of a tenant×queue (the Admin service):
 * list those that wait and those dead, replay or delete dead ones, purge the
 * waiting ones. What a call took is logged by the gRPC edge's audit line,
 * which names the caller (a step failing part way is warned of here).
 */
export class QueueAdmin {
  private readonly pages: JobPages;

  constructor(
    private readonly context: BrokerContext,
    private readonly queues: ServedQueues,
  ) {
    this.pages = new JobPages(context.store);
  }

  async listDeadLetters(
    tenant: string,
    queue: string,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage & { total: number }> {
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    return await this.pages.dead(tenant, queue, pageSize, pageToken);
  }

  /** A page of the jobs of a tenant×queue that wait to run: ready ones, or delayed ones. */
  async listJobs(
    tenant: string,
    queue: string,
    state: JobState | undefined,
    pageSize: number,
    pageToken: string,
  ): Promise<JobPage> {
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    if (state === 'waiting') return await this.pages.waiting(tenant, queue, pageSize, pageToken);
    if (state === 'delayed') return await this.pages.delayed(tenant, queue, pageSize, pageToken);
    throw invalidArgument(
      'state must be WAITING (ready to run) or DELAYED (delayed or waiting out a retry); ListDeadLetters lists DEAD jobs',
    );
  }

  async replayDeadLetters(
    tenant: string,
    queue: string,
    jobIds: readonly string[],
    all: boolean,
  ): Promise<{ replayed: number; notFound: string[] }> {
    const { taken, notFound } = await this.takeDeadLetters('replay', tenant, queue, jobIds, all);
    if (taken > 0) this.queues.announceWork(queue, tenant, 0);
    return { replayed: taken, notFound };
  }

  async deleteDeadLetters(
    tenant: string,
    queue: string,
    jobIds: readonly string[],
    all: boolean,
  ): Promise<{ deleted: number; notFound: string[] }> {
    const { taken, notFound } = await this.takeDeadLetters('delete', tenant, queue, jobIds, all);
    return { deleted: taken, notFound };
  }

  /** Replays or deletes dead jobs: the ids given, or all of the tenant×queue. */
  private async takeDeadLetters(
    action: DeadLetterAction,
    tenant: string,
    queue: string,
    jobIds: readonly string[],
    all: boolean,
  ): Promise<{ taken: number; notFound: string[] }> {
    const { store, observer } = this.context;
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    if (jobIds.length === 0 && !all) {
      throw invalidArgument(
        `name the job_ids to ${action}, or set all = true to ${action} the whole dead letter queue`,
      );
    }
    if (jobIds.length > 0 && all) throw invalidArgument('set either job_ids or all, not both');
    if (jobIds.length > MAX_DEAD_LETTER_IDS) {
      throw invalidArgument(
        `job_ids names ${jobIds.length} jobs; a call may name at most ${MAX_DEAD_LETTER_IDS}: split them over several calls, or set all = true to ${action} the whole dead letter queue`,
      );
    }
    jobIds.forEach(checkJobId);
    let taken = 0;
    const notFound: string[] = [];
    const call: SteppedCall = {
      kind: action,
      tenant,
      queue,
      taken: () => taken,
      counted: (n) => observer.deadLettersTaken(tenant, queue, n, action),
      ...(all ? {} : { notFound: () => notFound }),
    };
    await this.inSteps(call, async () => {
      if (all) {
        // "All" is the jobs dead when the call began: the steps after the first
        // keep to its bound, so a job that dies again meanwhile stays dead.
        let diedBy = '';
        for (;;) {
          const step = await store.takeOldestDead(action, tenant, queue, DEAD_LETTER_STEP, diedBy);
          taken += step.taken;
          diedBy = step.diedBy;
          if (step.looked < DEAD_LETTER_STEP) break;
        }
      } else {
        // An id named twice is taken once and not also reported as not found.
        const unique = [...new Set(jobIds)];
        for (let i = 0; i < unique.length; i += DEAD_LETTER_STEP) {
          const chunk = await store.takeDead(
            action,
            tenant,
            queue,
            unique.slice(i, i + DEAD_LETTER_STEP),
          );
          taken += chunk.taken;
          notFound.push(...chunk.notFound);
        }
      }
    });
    return { taken, notFound };
  }

  /**
   * Cancels the jobs of a tenant×queue that wait to run (ready, delayed, or
   * waiting out a retry's backoff) and were enqueued before the call began;
   * leased jobs run to their end. In steps, so Redis serves others meanwhile.
   */
  async purgeQueue(tenant: string, queue: string): Promise<{ purged: number }> {
    const { store, clock, observer } = this.context;
    checkName('tenant', tenant);
    checkQueue('queue', queue);
    const createdBy = clock();
    let purged = 0;
    let cursor = '';
    const call: SteppedCall = {
      kind: 'purge',
      tenant,
      queue,
      taken: () => purged,
      counted: (n) => observer.cancelled(tenant, queue, n, 'purge'),
    };
    await this.inSteps(call, async () => {
      do {
        const step = await store.purgeStep(tenant, queue, createdBy, clock(), PURGE_STEP, cursor);
        purged += step.purged;
        cursor = step.cursor;
      } while (cursor !== '');
    });
    await retireIfEmptied(this.context, tenant, queue);
    return { purged };
  }

  /**
   * Runs the steps of an operator call over a tenant×queue, each step done for
   * good when it returns. A step that fails fails the call with its status,
   * and the message (and a warn log) says how many jobs the steps before took:
   * those stay taken, and a call over a large queue may have done most of its
   * work. They are counted in the metrics all the same. A call by job ids also
   * names the ids the steps before did not find (the first few, and how many).
   */
  private async inSteps(call: SteppedCall, steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (error) {
      const failure = coerceError(error);
      const { rpc, jobs, verb, done, count } = STEPPED_CALLS[call.kind];
      const { kind, tenant, queue } = call;
      const taken = call.taken();
      const missing = call.notFound?.() ?? [];
      const listed = missing.slice(0, LISTED_NOT_FOUND);
      this.context.logger.warn(
        {
          err: error,
          tenant,
          queue,
          [count]: taken,
          ...(missing.length > 0 ? { notFound: listed, notFoundCount: missing.length } : {}),
        },
        `a ${kind} failed part way; the ${jobs} ${done} before stay ${done}`,
      );
      // Calling again is safe: each of these calls takes only the jobs still there.
      throw new BrokerError(
        failure.code,
        `${failure.message}; the ${kind} stopped after ${taken} ${jobs} were ${done}${notFoundClause(missing)}: call ${rpc} again to ${verb} the rest`,
        { cause: error },
      );
    } finally {
      const taken = call.taken();
      if (taken > 0) call.counted(taken);
    }
  }
}

/** ` and 2 job_ids were not found (a, b)`, listing the first few; '' for none. */
function notFoundClause(missing: readonly string[]): string {
  if (missing.length === 0) return '';
  const unlisted = missing.length - LISTED_NOT_FOUND;
  const list = missing.slice(0, LISTED_NOT_FOUND).join(', ');
  const were = missing.length === 1 ? 'job_id was' : 'job_ids were';
  return ` and ${missing.length} ${were} not found (${list}${unlisted > 0 ? ` and ${unlisted} more` : ''})`;
}
