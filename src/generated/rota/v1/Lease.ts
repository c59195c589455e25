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
}
