// Original file: proto/rota/v1/rota.proto

import type { QueueSettings as _rota_v1_QueueSettings, QueueSettings__Output as _rota_v1_QueueSettings__Output } from '../../rota/v1/QueueSettings.js';
import type { Long } from '@grpc/proto-loader';

/**
 * Scheduling settings of a tenant.
 */
export interface Tenant {
  'tenant'?: (string);
  /**
   * Share of dispatch relative to other tenants. 0.001 to 1000000, default 1.
   */
  'weight'?: (number | string);
  /**
   * Dispatches per second (token bucket refill). 0 = unlimited (default).
   * Shared by every broker on the same Redis: replicas together keep to it.
   */
  'rate'?: (number | string);
  /**
   * Token bucket size. 0 = max(1, rate) (default).
   */
  'burst'?: (number);
  /**
   * Leases held at once across all workers. 0 = unlimited (default).
   * Shared by every broker on the same Redis, like rate. Lowered below the
   * leases out, those run on, and no lease goes out until fewer than the new
   * cap are out on all brokers together.
   */
  'max_in_flight'?: (number);
  /**
   * Jobs waiting (ready + delayed) per queue before Enqueue answers
   * RESOURCE_EXHAUSTED. 0 = unlimited (default). Leased jobs do not count,
   * nor do the few a broker has read ahead for its workers (its prefetch).
   */
  'max_queued'?: (number | string | Long);
  /**
   * Per-queue overrides, at most 256 in one request.
   */
  'queues'?: (_rota_v1_QueueSettings)[];
  /**
   * True pauses the tenant: no new leases on any queue (work-conserving: the
   * other tenants get its share), while Enqueue still stores its jobs and
   * leases already out run to their end. False resumes it at once. Every
   * broker applies it within about a second. Default false.
   */
  'paused'?: (boolean);
  '_weight'?: "weight";
  '_rate'?: "rate";
  '_burst'?: "burst";
  '_max_in_flight'?: "max_in_flight";
  '_max_queued'?: "max_queued";
  '_paused'?: "paused";
}

/**
 * Scheduling settings of a tenant.
 */
export interface Tenant__Output {
  'tenant': (string);
  /**
   * Share of dispatch relative to other tenants. 0.001 to 1000000, default 1.
   */
  'weight'?: (number);
  /**
   * Dispatches per second (token bucket refill). 0 = unlimited (default).
   * Shared by every broker on the same Redis: replicas together keep to it.
   */
  'rate'?: (number);
  /**
   * Token bucket size. 0 = max(1, rate) (default).
   */
  'burst'?: (number);
  /**
   * Leases held at once across all workers. 0 = unlimited (default).
   * Shared by every broker on the same Redis, like rate. Lowered below the
   * leases out, those run on, and no lease goes out until fewer than the new
   * cap are out on all brokers together.
   */
  'max_in_flight'?: (number);
  /**
   * Jobs waiting (ready + delayed) per queue before Enqueue answers
   * RESOURCE_EXHAUSTED. 0 = unlimited (default). Leased jobs do not count,
   * nor do the few a broker has read ahead for its workers (its prefetch).
   */
  'max_queued'?: (string);
  /**
   * Per-queue overrides, at most 256 in one request.
   */
  'queues': (_rota_v1_QueueSettings__Output)[];
  /**
   * True pauses the tenant: no new leases on any queue (work-conserving: the
   * other tenants get its share), while Enqueue still stores its jobs and
   * leases already out run to their end. False resumes it at once. Every
   * broker applies it within about a second. Default false.
   */
  'paused'?: (boolean);
  '_weight'?: "weight";
  '_rate'?: "rate";
  '_burst'?: "burst";
  '_max_in_flight'?: "max_in_flight";
  '_max_queued'?: "max_queued";
  '_paused'?: "paused";
}
