import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { Clock, TenantLimits } from '../scheduler/index.js';
import type { JobStore } from '../store/job-store.js';
import type { Doorbell } from './doorbell.js';
import type { LeaseManager } from './lease-manager.js';
import type { BrokerObserver } from './observer.js';
import type { ThrottledWarnings } from './throttled-warning.js';

/**
 * Milliseconds that only go forward, on the Unix epoch scale as of the process
 * start: the clock of the limits, the schedulers and the workers' liveness.
 * On the wall clock, a step back (NTP, a VM resumed) put every throttled
 * tenant's next token as far in the future, and it waited out the whole step.
 */
export const monotonicClock: Clock = () => performance.timeOrigin + performance.now();

/** What the Broker wires once and each of its parts depends on. */
export interface BrokerContext {
  readonly config: BrokerConfig;
  /** Commands. */
  readonly redis: Redis;
  readonly store: JobStore;
  readonly limits: TenantLimits;
  /** The wall clock: job times, which Redis keeps and other brokers read. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the parts make their throttled warnings, so the broker's stop closes them. */
  readonly warnings: ThrottledWarnings;
  /** Sees the job lifecycle (traces, metrics, stats). */
  readonly observer: BrokerObserver;
  readonly doorbell: Doorbell;
  readonly leases: LeaseManager;
}
