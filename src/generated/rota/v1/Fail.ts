// Original file: proto/rota/v1/rota.proto

import type { Long } from '@grpc/proto-loader';

export interface Fail {
  'job_id'?: (string);
  'lease_token'?: (string);
  /**
   * Error text stored on the job (truncated to 4 KiB).
   */
  'message'?: (string);
  /**
   * False sends the job straight to the dead letter queue.
   */
  'retryable'?: (boolean);
  /**
   * When set, the next attempt waits this long instead of the backoff. At
   * most 365 days (31,536,000,000 ms); more is refused with ACK_INVALID and
   * the lease stays the worker's.
   */
  'retry_after_ms'?: (number | string | Long);
}

export interface Fail__Output {
  'job_id': (string);
  'lease_token': (string);
  /**
   * Error text stored on the job (truncated to 4 KiB).
   */
  'message': (string);
  /**
   * False sends the job straight to the dead letter queue.
   */
  'retryable': (boolean);
  /**
   * When set, the next attempt waits this long instead of the backoff. At
   * most 365 days (31,536,000,000 ms); more is refused with ACK_INVALID and
   * the lease stays the worker's.
   */
  'retry_after_ms': (string);
}
