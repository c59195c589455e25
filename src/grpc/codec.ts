import type { EnqueueInput } from '../broker/validation.js';
import type { Lease } from '../broker/session.js';
import type { JobRecord, JobState } from '../store/types.js';
import type { EnqueueRequest__Output } from '../generated/rota/v1/EnqueueRequest.js';
import type { Job } from '../generated/rota/v1/Job.js';
import type { JobState as WireJobState } from '../generated/rota/v1/JobState.js';
import type { Lease as WireLease } from '../generated/rota/v1/Lease.js';
import type { Tenant, Tenant__Output } from '../generated/rota/v1/Tenant.js';
import type { TenantUpdate, TenantView } from '../broker/tenants.js';
import type { TenantQueueStats } from '../broker/broker.js';
import type { QueueTenantStats } from '../generated/rota/v1/QueueTenantStats.js';

/** Translation between wire messages and domain values; no rules here. */

const WIRE_STATE: Readonly<Record<JobState, WireJobState>> = {
  waiting: 'WAITING',
  delayed: 'DELAYED',
  leased: 'LEASED',
  retrying: 'FAILED_RETRYING',
  completed: 'COMPLETED',
  dead: 'DEAD',
  cancelled: 'CANCELLED',
};

export const toWireState = (state: JobState): WireJobState =>
  WIRE_STATE[state] ?? 'JOB_STATE_UNSPECIFIED';

const STATE_OF_WIRE = new Map<string, JobState>(
  Object.entries(WIRE_STATE).map(([state, wire]): [string, JobState] => [
    String(wire),
    state as JobState,
  ]),
);

/** undefined for JOB_STATE_UNSPECIFIED and values this broker does not know. */
export const fromWireState = (state: string | number): JobState | undefined =>
  STATE_OF_WIRE.get(String(state));

/** uint64 fields arrive as decimal strings (longs: String); beyond 2^53 they are out of range anyway. */
export function toNumber(value: string | number | undefined): number {
  const parsed = Number(value ?? 0);
  return Number.isFinite(parsed) ? parsed : Number.MAX_SAFE_INTEGER;
}

export function toEnqueueInput(request: EnqueueRequest__Output): EnqueueInput {
  return {
    tenant: request.tenant,
    queue: request.queue,
    payload: request.payload,
    priority: request.priority,
    maxAttempts: request.max_attempts,
    backoffInitialMs: request.backoff?.initial_ms ?? 0,
    backoffMaxMs: request.backoff?.max_ms ?? 0,
    timeoutMs: request.timeout_ms,
    delayMs: toNumber(request.delay_ms),
    idempotencyKey: request.idempotency_key,
    headers: request.headers,
  };
}

export function toWireJob(job: JobRecord): Job {
  return {
    id: job.id,
    tenant: job.tenant,
    queue: job.queue,
    state: toWireState(job.state),
    payload: job.payload,
    priority: job.priority,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    timeout_ms: job.timeoutMs,
    idempotency_key: job.idempotencyKey,
    headers: job.headers,
    progress: job.progress ?? Buffer.alloc(0),
    result: job.result ?? Buffer.alloc(0),
    result_content_type: job.resultContentType,
    progress_content_type: job.progressContentType,
    last_error: job.lastError,
    created_at_unix_ms: job.createdAt,
    run_at_unix_ms: job.runAt,
    leased_at_unix_ms: job.leasedAt,
    finished_at_unix_ms: job.finishedAt,
    backoff: { initial_ms: job.backoffInitialMs, max_ms: job.backoffMaxMs },
  };
}

/** `now`: the broker's clock as the lease goes out. */
export function toWireLease(lease: Lease, now: number): WireLease {
  const { job } = lease;
  return {
    job_id: job.id,
    lease_token: lease.token,
    tenant: job.tenant,
    queue: job.queue,
    payload: job.payload,
    attempt: lease.attempt,
    deadline_unix_ms: lease.deadline,
    headers: job.headers,
    max_attempts: job.maxAttempts,
    created_at_unix_ms: job.createdAt,
    timeout_left_ms: lease.deadline > 0 ? Math.max(1, lease.deadline - now) : 0,
  };
}

/** Optional wire fields stay undefined when unset: SetTenant keeps the stored value. */
export function toTenantUpdate(tenant: Tenant__Output | null | undefined): TenantUpdate {
  if (!tenant) return { tenant: '' };
  return {
    tenant: tenant.tenant,
    weight: tenant.weight,
    rate: tenant.rate,
    burst: tenant.burst,
    maxInFlight: tenant.max_in_flight,
    paused: tenant.paused,
    maxQueued: tenant.max_queued === undefined ? undefined : toNumber(tenant.max_queued),
    queues: tenant.queues.map((q) => ({
      queue: q.queue,
      weight: q.weight,
      rate: q.rate,
      burst: q.burst,
      maxInFlight: q.max_in_flight,
      paused: q.paused,
    })),
  };
}

/** A stored tenant (every field set), or an update (unset fields stay unset on the wire). */
export function toWireTenant(view: TenantView | TenantUpdate): Tenant {
  return {
    tenant: view.tenant,
    weight: view.weight,
    rate: view.rate,
    burst: view.burst,
    max_in_flight: view.maxInFlight,
    paused: view.paused,
    max_queued: view.maxQueued,
    queues: view.queues?.map((q) => ({
      queue: q.queue,
      weight: q.weight,
      rate: q.rate,
      burst: q.burst,
      max_in_flight: q.maxInFlight,
      paused: q.paused,
    })),
  };
}

export function toWireStats(row: TenantQueueStats, now: number): QueueTenantStats {
  return {
    queue: row.queue,
    tenant: row.tenant,
    waiting: row.waiting,
    delayed: row.delayed,
    leased: row.leased,
    dead: row.dead,
    oldest_waiting_age_ms:
      row.oldestWaitingAt === undefined ? 0 : Math.max(0, now - row.oldestWaitingAt),
    enqueued_per_second: row.enqueuedPerSecond,
    completed_per_second: row.completedPerSecond,
    failed_per_second: row.failedPerSecond,
    wait_ms: row.waitMs,
    run_ms: row.runMs,
  };
}
