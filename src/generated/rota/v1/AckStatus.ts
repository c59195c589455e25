// Original file: proto/rota/v1/rota.proto

export const AckStatus = {
  ACK_STATUS_UNSPECIFIED: 'ACK_STATUS_UNSPECIFIED',
  /**
   * Recorded.
   */
  ACK_OK: 'ACK_OK',
  /**
   * The lease token is not the job's current lease (expired, timed out,
   * cancelled or re-leased): the outcome was not recorded.
   */
  ACK_STALE: 'ACK_STALE',
  /**
   * No such job (wrong id, or its retention expired).
   */
  ACK_UNKNOWN_JOB: 'ACK_UNKNOWN_JOB',
  /**
   * The ack itself was malformed (message says why); nothing was recorded.
   */
  ACK_INVALID: 'ACK_INVALID',
} as const;

export type AckStatus =
  | 'ACK_STATUS_UNSPECIFIED'
  | 0
  /**
   * Recorded.
   */
  | 'ACK_OK'
  | 1
  /**
   * The lease token is not the job's current lease (expired, timed out,
   * cancelled or re-leased): the outcome was not recorded.
   */
  | 'ACK_STALE'
  | 2
  /**
   * No such job (wrong id, or its retention expired).
   */
  | 'ACK_UNKNOWN_JOB'
  | 3
  /**
   * The ack itself was malformed (message says why); nothing was recorded.
   */
  | 'ACK_INVALID'
  | 4

export type AckStatus__Output = typeof AckStatus[keyof typeof AckStatus]
