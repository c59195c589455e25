// Original file: proto/rota/v1/rota.proto

export const JobState = {
  JOB_STATE_UNSPECIFIED: 'JOB_STATE_UNSPECIFIED',
  /**
   * Ready to run, waiting for its tenant's turn.
   */
  WAITING: 'WAITING',
  /**
   * Waiting for its run time (delay_ms) to come.
   */
  DELAYED: 'DELAYED',
  /**
   * Held by a worker under a lease.
   */
  LEASED: 'LEASED',
  /**
   * Finished successfully (terminal).
   */
  COMPLETED: 'COMPLETED',
  /**
   * An attempt failed; waiting out the backoff before the next one.
   */
  FAILED_RETRYING: 'FAILED_RETRYING',
  /**
   * Out of attempts or failed as non-retryable; in the dead letter queue (terminal).
   */
  DEAD: 'DEAD',
  /**
   * Cancelled by CancelJob or PurgeQueue (terminal).
   */
  CANCELLED: 'CANCELLED',
} as const;

export type JobState =
  | 'JOB_STATE_UNSPECIFIED'
  | 0
  /**
   * Ready to run, waiting for its tenant's turn.
   */
  | 'WAITING'
  | 1
  /**
   * Waiting for its run time (delay_ms) to come.
   */
  | 'DELAYED'
  | 2
  /**
   * Held by a worker under a lease.
   */
  | 'LEASED'
  | 3
  /**
   * Finished successfully (terminal).
   */
  | 'COMPLETED'
  | 4
  /**
   * An attempt failed; waiting out the backoff before the next one.
   */
  | 'FAILED_RETRYING'
  | 5
  /**
   * Out of attempts or failed as non-retryable; in the dead letter queue (terminal).
   */
  | 'DEAD'
  | 6
  /**
   * Cancelled by CancelJob or PurgeQueue (terminal).
   */
  | 'CANCELLED'
  | 7

export type JobState__Output = typeof JobState[keyof typeof JobState]
