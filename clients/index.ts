/** Rota clients: the public API. */
export { Producer } from './producer.js';
export { Admin } from './admin.js';
export type {
  AdminOptions,
  DeadLetterPage,
  DeleteResult,
  JobPage,
  PageRequest,
  Percentiles,
  QueueSettings,
  QueueTenantStats,
  ReplayResult,
  SchedulingSettings,
  Stats,
  Tenant,
  TenantSettings,
  WaitingState,
} from './admin.js';
export type { CancelResult, EnqueueBatchItem, EnqueueResult, ProducerOptions } from './producer.js';
export { Worker } from './worker.js';
export type {
  Handler,
  HandlerContext,
  WorkerEvents,
  WorkerJob,
  WorkerOptions,
  WorkerState,
} from './worker.js';
export type { JobInfo, JobInput, JobState } from './job.js';
export type { ConnectionOptions } from './connection.js';
export {
  AckRefusedError,
  JobAbortedError,
  NonRetryableError,
  RetryAfterError,
  RotaError,
  toRotaError,
} from './errors.js';
export { reconnectDelayMs } from './reconnect.js';
