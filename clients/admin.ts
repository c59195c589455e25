/**
 * Admin: the operator API (`rota.v1.Admin`) for scripts and dashboards:
 * tenant settings, queue statistics, the jobs that wait, the dead letter
 * queue, and purges. Every call
 * needs an admin token when the broker checks tokens (`token` option); an
 * admin token limited to some tenants may only name those.
 *
 * Errors are RotaErrors with the broker's gRPC status and message
 * (INVALID_ARGUMENT for a bad setting, PERMISSION_DENIED for a tenant the token
 * does not cover, UNAVAILABLE when the broker cannot be reached …).
 */
import { status, type ClientUnaryCall } from '@grpc/grpc-js';
import type { AdminClient } from '../src/generated/rota/v1/Admin.js';
import type { DeleteDeadLettersResponse__Output } from '../src/generated/rota/v1/DeleteDeadLettersResponse.js';
import type { ListDeadLettersResponse__Output } from '../src/generated/rota/v1/ListDeadLettersResponse.js';
import type { ListJobsResponse__Output } from '../src/generated/rota/v1/ListJobsResponse.js';
import type { ListTenantsResponse__Output } from '../src/generated/rota/v1/ListTenantsResponse.js';
import type { Percentiles__Output } from '../src/generated/rota/v1/Percentiles.js';
import type { PurgeQueueResponse__Output } from '../src/generated/rota/v1/PurgeQueueResponse.js';
import type { ReplayDeadLettersResponse__Output } from '../src/generated/rota/v1/ReplayDeadLettersResponse.js';
import type { Stats__Output } from '../src/generated/rota/v1/Stats.js';
import type { Tenant__Output } from '../src/generated/rota/v1/Tenant.js';
import {
  checkTimeoutMs,
  connectAdmin,
  unary,
  type CallTail,
  type Connection,
  type ConnectionOptions,
} from './connection.js';
import { toTenantUpdate, toWireTenant } from '../src/grpc/codec.js';
import { RotaError, refuseUnsendable } from './errors.js';
import { toJobInfo, type JobInfo } from './job.js';
import {
  objectArgument,
  objectList,
  optionalBoolean,
  stringArgument,
  stringList,
} from './input-shapes.js';
import { wireInteger } from './wire-integers.js';

export interface AdminOptions extends ConnectionOptions {
  /** Deadline of each call in ms, at most 2^31 − 1 (24.8 days). @default none */
  timeoutMs?: number;
}

/** Scheduling knobs; see the README's tenant settings. Unset fields keep their stored value. */
export interface SchedulingSettings {
  /** Share of dispatches relative to the other tenants of a queue (0.001 to 1e6). */
  weight?: number;
  /** Dispatches per second, for all brokers together; 0 = unlimited. */
  rate?: number;
  /** Token bucket size; 0 = max(1, rate). */
  burst?: number;
  /** Leases held at once, across all workers and brokers; 0 = unlimited. */
  maxInFlight?: number;
  /**
   * true: no new leases (jobs still queue up; leases out run to their end;
   * the other tenants get the capacity); false resumes. On a queue override,
   * that queue alone.
   */
  paused?: boolean;
}

/** A per-queue override of a tenant's settings; unset fields inherit the tenant's. */
export interface QueueSettings extends SchedulingSettings {
  queue: string;
}

export interface TenantSettings extends SchedulingSettings {
  /** Waiting + delayed jobs per queue before Enqueue answers RESOURCE_EXHAUSTED; 0 = unlimited. */
  maxQueued?: number;
  /**
   * Per-queue overrides: the fields given change the stored override of their
   * queue, the others keep their stored value; `{ queue }` alone clears it
   * (the queue follows the tenant's settings again). An admin token limited to
   * tenants may set only `paused`.
   */
  queues?: QueueSettings[];
}

/** A tenant's settings as stored, defaults filled in. */
export interface Tenant {
  tenant: string;
  weight: number;
  rate: number;
  burst: number;
  maxInFlight: number;
  paused: boolean;
  maxQueued: number;
  queues: QueueSettings[];
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  /** Samples since the answering broker started. */
  count: number;
}

/** One queue × tenant: depth from Redis, rates and percentiles from the answering broker. */
export interface QueueTenantStats {
  queue: string;
  tenant: string;
  /** Runnable, not yet read by any broker. */
  waiting: number;
  /** Waiting for their run time (delay or retry backoff). */
  delayed: number;
  /** Leased to a worker, or in a broker's prefetch buffer. */
  leased: number;
  dead: number;
  /** Age of the oldest waiting job; 0 when none waits. */
  oldestWaitingAgeMs: number;
  /** Over the last minute. */
  enqueuedPerSecond: number;
  completedPerSecond: number;
  failedPerSecond: number;
  /** Runnable → leased, in ms. */
  waitMs: Percentiles;
  /** Leased → acknowledged, in ms. */
  runMs: Percentiles;
}

export interface Stats {
  entries: QueueTenantStats[];
  /** Unix ms. */
  generatedAt: number;
  /** More than 1000 rows: narrow by queue or tenant. */
  truncated: boolean;
}

export interface JobPage {
  jobs: JobInfo[];
  /** Pass to the next call; undefined on the last page. */
  nextPageToken: string | undefined;
}

export interface DeadLetterPage extends JobPage {
  /** Dead jobs in this tenant×queue. */
  total: number;
}

/** The states listJobs lists: ready to run, or waiting for a run time (FAILED_RETRYING jobs too). */
export type WaitingState = 'WAITING' | 'DELAYED';

export interface ReplayResult {
  /** Jobs moved back to their ready queue, with a fresh attempt budget. */
  replayed: number;
  /** Ids that were not in this dead letter queue. */
  notFound: string[];
}

export interface DeleteResult {
  /** Dead jobs deleted. */
  deleted: number;
  /** Ids that were not in this dead letter queue. */
  notFound: string[];
}

/** Which page a list call reads. */
export interface PageRequest {
  /** Jobs per page. @default 100 */
  pageSize?: number;
  /** The nextPageToken of the page before; none for the first page. */
  pageToken?: string;
}

/**
 * A page request as the wire has it. From JavaScript a pageSize given where
 * the page goes (`listDeadLetters(tenant, queue, 50)`, as `deadLetters`
 * takes it) would be ignored: refused instead, as is a pageSize its field
 * would wrap.
 */
function toWirePage(page: PageRequest): { page_size: number; page_token: string } {
  return refuseUnsendable(() => {
    const { pageSize, pageToken } = objectArgument<PageRequest>('page', page);
    return {
      page_size: wireInteger('pageSize', pageSize ?? 0, 'uint32'),
      page_token: pageToken ?? '',
    };
  });
}

/** The jobs of every page, read one page after another. */
async function* followPages(
  read: (pageToken: string | undefined) => Promise<JobPage>,
): AsyncGenerator<JobInfo> {
  let pageToken: string | undefined;
  do {
    const page = await read(pageToken);
    yield* page.jobs;
    pageToken = page.nextPageToken;
  } while (pageToken !== undefined);
}

/** The request of ReplayDeadLetters and DeleteDeadLetters: some ids, or all. */
/**
 * The tenant×queue a call names. protobuf would send any other value as its
 * String(): purgeQueue(42, 'q') purged tenant '42'. Anything but strings is
 * refused before sending.
 */
function queueAddress(tenant: string, queue: string): { tenant: string; queue: string } {
  return refuseUnsendable(() => ({
    tenant: stringArgument('tenant', tenant),
    queue: stringArgument('queue', queue),
  }));
}

function deadLetterSelection(
  tenant: string,
  queue: string,
  jobs: readonly string[] | 'all',
): { tenant: string; queue: string; job_ids: string[]; all: boolean } {
  const address = queueAddress(tenant, queue);
  if (jobs === 'all') return { ...address, job_ids: [], all: true };
  const ids = refuseUnsendable(() => stringList('jobs', jobs, "an array of job ids or 'all'"));
  return { ...address, job_ids: [...ids], all: false };
}

export class Admin {
  readonly #connection: Connection<AdminClient>;
  readonly #timeoutMs: number | undefined;
  /** Calls sent and not answered yet, for close(). */
  readonly #underWay = new Set<ClientUnaryCall>();
  #closed = false;

  constructor(options: AdminOptions = {}) {
    this.#timeoutMs = checkTimeoutMs('Admin', options.timeoutMs);
    this.#connection = connectAdmin(options);
  }

  /** Stores settings of a tenant (running brokers apply them within a second); returns them all. */
  async setTenant(tenant: string, settings: TenantSettings): Promise<Tenant> {
    const wire = refuseUnsendable(() =>
      toWireTenant({ tenant: stringArgument('tenant', tenant), ...checkedSettings(settings) }),
    );
    const stored = await this.#call<Tenant__Output>((client, ...call) =>
      client.SetTenant({ tenant: wire }, ...call),
    );
    return toTenant(stored);
  }

  /** A tenant's settings; the defaults when none were stored. */
  async getTenant(tenant: string): Promise<Tenant> {
    const named = refuseUnsendable(() => stringArgument('tenant', tenant));
    return toTenant(
      await this.#call<Tenant__Output>((client, ...call) =>
        client.GetTenant({ tenant: named }, ...call),
      ),
    );
  }

  /** Every tenant with stored settings. */
  async listTenants(): Promise<Tenant[]> {
    const reply = await this.#call<ListTenantsResponse__Output>((client, ...call) =>
      client.ListTenants({}, ...call),
    );
    return reply.tenants.map(toTenant);
  }

  /** Per queue × tenant with work: depth by state, rates, wait and run percentiles. */
  async getStats(filter: { queue?: string; tenant?: string } = {}): Promise<Stats> {
    // From JavaScript getStats('acme') would answer every tenant's rows.
    const { queue, tenant } = refuseUnsendable(() => {
      const given = objectArgument<{ queue?: string; tenant?: string }>('filter', filter);
      return {
        queue: given.queue === undefined ? '' : stringArgument('filter.queue', given.queue),
        tenant: given.tenant === undefined ? '' : stringArgument('filter.tenant', given.tenant),
      };
    });
    const reply = await this.#call<Stats__Output>((client, ...call) =>
      client.GetStats({ queue, tenant }, ...call),
    );
    return {
      entries: reply.entries.map((row) => ({
        queue: row.queue,
        tenant: row.tenant,
        waiting: Number(row.waiting),
        delayed: Number(row.delayed),
        leased: Number(row.leased),
        dead: Number(row.dead),
        oldestWaitingAgeMs: Number(row.oldest_waiting_age_ms),
        enqueuedPerSecond: row.enqueued_per_second,
        completedPerSecond: row.completed_per_second,
        failedPerSecond: row.failed_per_second,
        waitMs: toPercentiles(row.wait_ms),
        runMs: toPercentiles(row.run_ms),
      })),
      generatedAt: Number(reply.generated_at_unix_ms),
      truncated: reply.truncated,
    };
  }

  /**
   * One page of a tenant×queue dead letter queue, newest first: `pageSize` jobs
   * (default 100) or fewer, when their data pass about 1 MiB.
   */
  async listDeadLetters(
    tenant: string,
    queue: string,
    page: PageRequest = {},
  ): Promise<DeadLetterPage> {
    const address = queueAddress(tenant, queue);
    const wirePage = toWirePage(page);
    const reply = await this.#call<ListDeadLettersResponse__Output>((client, ...call) =>
      client.ListDeadLetters({ ...address, ...wirePage }, ...call),
    );
    return {
      jobs: reply.jobs.map(toJobInfo),
      nextPageToken: reply.next_page_token === '' ? undefined : reply.next_page_token,
      total: Number(reply.total),
    };
  }

  /** Every dead job of a tenant×queue, newest first, page by page. */
  deadLetters(tenant: string, queue: string, pageSize?: number): AsyncGenerator<JobInfo> {
    return followPages((pageToken) => this.listDeadLetters(tenant, queue, { pageSize, pageToken }));
  }

  /**
   * A page of the jobs of a tenant×queue that wait to run: 'WAITING' ones in
   * the order they will be leased (highest priority, then oldest first), or
   * 'DELAYED' ones (delays and retries waiting out their backoff) soonest due
   * first. A page of waiting jobs can be short, even empty, before the last:
   * follow nextPageToken until it is undefined.
   */
  async listJobs(
    tenant: string,
    queue: string,
    state: WaitingState,
    page: PageRequest = {},
  ): Promise<JobPage> {
    const address = queueAddress(tenant, queue);
    const wirePage = toWirePage(page);
    const reply = await this.#call<ListJobsResponse__Output>((client, ...call) =>
      client.ListJobs({ ...address, state, ...wirePage }, ...call),
    );
    return {
      jobs: reply.jobs.map(toJobInfo),
      nextPageToken: reply.next_page_token === '' ? undefined : reply.next_page_token,
    };
  }

  /** Every job of a tenant×queue in `state`, page by page (see listJobs). */
  jobs(
    tenant: string,
    queue: string,
    state: WaitingState,
    pageSize?: number,
  ): AsyncGenerator<JobInfo> {
    return followPages((pageToken) => this.listJobs(tenant, queue, state, { pageSize, pageToken }));
  }

  /**
   * Moves dead jobs back to their ready queue: the ids given (an array of at
   * most 10,000: more, or a lone id string, is refused with INVALID_ARGUMENT),
   * or with 'all' every one dead now.
   * When it fails part way (UNAVAILABLE: Redis went away), the jobs it reached
   * stay replayed and the error's message says how many, and which of the ids
   * given were not found until then (the first 20); calling it again replays
   * the rest, and answers the ids already replayed in `notFound` as well.
   */
  async replayDeadLetters(
    tenant: string,
    queue: string,
    jobs: readonly string[] | 'all',
  ): Promise<ReplayResult> {
    const selection = deadLetterSelection(tenant, queue, jobs);
    const reply = await this.#call<ReplayDeadLettersResponse__Output>((client, ...call) =>
      client.ReplayDeadLetters(selection, ...call),
    );
    return { replayed: reply.replayed, notFound: reply.not_found };
  }

  /**
   * Deletes dead jobs for good (getJob then fails with NOT_FOUND): the ids
   * given (an array, as replayDeadLetters'), or with 'all' every one dead now.
   * A failure part way says how many were deleted, and which ids were not
   * found, as replayDeadLetters' does.
   */
  async deleteDeadLetters(
    tenant: string,
    queue: string,
    jobs: readonly string[] | 'all',
  ): Promise<DeleteResult> {
    const selection = deadLetterSelection(tenant, queue, jobs);
    const reply = await this.#call<DeleteDeadLettersResponse__Output>((client, ...call) =>
      client.DeleteDeadLetters(selection, ...call),
    );
    return { deleted: reply.deleted, notFound: reply.not_found };
  }

  /**
   * Cancels the jobs of a tenant×queue that wait to run (ready, delayed, or
   * waiting out a retry's backoff), enqueued before the call; leased jobs run
   * to their end. Answers how many were cancelled. Pause the queue first
   * (`setTenant`) to keep workers from taking the backlog meanwhile. When it
   * fails part way (UNAVAILABLE: Redis went away), the jobs it reached stay
   * cancelled and the error's message says how many; calling it again
   * cancels the rest.
   */
  async purgeQueue(tenant: string, queue: string): Promise<{ purged: number }> {
    const address = queueAddress(tenant, queue);
    const reply = await this.#call<PurgeQueueResponse__Output>((client, ...call) =>
      client.PurgeQueue(address, ...call),
    );
    return { purged: reply.purged };
  }

  /** Closes the channel; calls under way fail with CANCELLED, later ones with FAILED_PRECONDITION. */
  close(): void {
    this.#closed = true;
    // Closing the channel alone leaves a call the broker has not answered
    // pending until its deadline, or for ever without one.
    for (const call of this.#underWay) call.cancel();
    this.#connection.client.close();
  }

  async #call<Response>(
    start: (client: AdminClient, ...call: CallTail<Response>) => ClientUnaryCall,
  ): Promise<Response> {
    if (this.#closed) throw new RotaError(status.FAILED_PRECONDITION, 'the Admin is closed');
    let sent: ClientUnaryCall | undefined;
    const reply = unary<Response>(this.#connection, this.#timeoutMs, (...call) => {
      sent = start(this.#connection.client, ...call);
    });
    if (sent !== undefined) this.#underWay.add(sent);
    try {
      return await reply;
    } finally {
      if (sent !== undefined) this.#underWay.delete(sent);
    }
  }
}

/**
 * Settings shaped as TenantSettings (from JavaScript they may be anything), their
 * counts checked to fit their wire fields (see wire-integers.ts) and `paused`
 * to be a boolean.
 */
function checkedSettings(given: TenantSettings): TenantSettings {
  const settings = objectArgument<TenantSettings>('settings', given);
  if (settings.queues !== undefined) {
    objectList('queues', settings.queues, 'an array of queue settings ({ queue, weight, … })');
  }
  wireInteger('burst', settings.burst, 'uint32');
  wireInteger('maxInFlight', settings.maxInFlight, 'uint32');
  wireInteger('maxQueued', settings.maxQueued, 'uint64');
  optionalBoolean('paused', settings.paused);
  for (const override of settings.queues ?? []) {
    wireInteger(`queues[${override.queue}].burst`, override.burst, 'uint32');
    wireInteger(`queues[${override.queue}].maxInFlight`, override.maxInFlight, 'uint32');
    optionalBoolean(`queues[${override.queue}].paused`, override.paused);
  }
  return settings;
}

/** The broker answers every field; the defaults only guard against an older broker. */
function toTenant(reply: Tenant__Output): Tenant {
  const { tenant, weight, rate, burst, maxInFlight, paused, maxQueued, queues } =
    toTenantUpdate(reply);
  return {
    tenant,
    weight: weight ?? 1,
    rate: rate ?? 0,
    burst: burst ?? 0,
    maxInFlight: maxInFlight ?? 0,
    paused: paused ?? false,
    maxQueued: maxQueued ?? 0,
    queues: [...(queues ?? [])],
  };
}

function toPercentiles(percentiles: Percentiles__Output | null): Percentiles {
  return {
    p50: percentiles?.p50 ?? 0,
    p95: percentiles?.p95 ?? 0,
    p99: percentiles?.p99 ?? 0,
    count: Number(percentiles?.count ?? 0),
  };
}
