// Original file: proto/rota/v1/rota.proto

import type { Long } from '@grpc/proto-loader';

export interface Lease {
  'job_id'?: (string);
  /**
   * Fencing token: send it back with Complete, Fail and Progress.
   */
  'lease_token'?: (string);
  'tenant'?: (string);
  'queue'?: (string);
  'payload'?: (Buffer | Uint8Array | string);
  /**
   * 1 for the first attempt.
   */
  'attempt'?: (number);
  /**
   * Deadline of the job's timeout_ms (0 = no timeout). Heartbeats do not move it.
   */
  'deadline_unix_ms'?: (number | string | Long);
  'headers'?: ({[key: string]: string});
  'max_attempts'?: (number);
  'created_at_unix_ms'?: (number | string | Long);
  /**
   * The job's timeout left when the broker sent this lease, in ms (0 = no
   * timeout; at least 1 otherwise): time the job by this on your own clock,
   * not by deadline_unix_ms, which is on the broker's clock.
   */
  'timeout_left_ms'?: (number);
}

export interface Lease__Output {
  'job_id': (string);
  /**
   * Fencing token: send it back with Complete, Fail and Progress.
   */
  'lease_token': (string);
  'tenant': (string);
  'queue': (string);
  'payload': (Buffer);
  /**
   * 1 for the first attempt.
   */
  'attempt': (number);
  /**
   * Deadline of the job's timeout_ms (0 = no timeout). Heartbeats do not move it.
   */
  'deadline_unix_ms': (string);
  'headers': ({[key: string]: string});
  'max_attempts': (number);
  'created_at_unix_ms': (string);
  /**
   * The job's timeout left when the broker sent this lease, in ms (0 = no
   * timeout; at least 1 otherwise): time the job by this on your own clock,
   * not by deadline_unix_ms, which is on the broker's clock.
   */
  'timeout_left_ms': (number);
}
