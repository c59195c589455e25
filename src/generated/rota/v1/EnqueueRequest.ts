// Original file: proto/rota/v1/rota.proto

import type { Backoff as _rota_v1_Backoff, Backoff__Output as _rota_v1_Backoff__Output } from '../../rota/v1/Backoff.js';
import type { Long } from '@grpc/proto-loader';

export interface EnqueueRequest {
  /**
   * Owner of the job. Required.
   */
  'tenant'?: (string);
  /**
   * Kind of work; workers subscribe to queues. Required.
   */
  'queue'?: (string);
  /**
   * Opaque job data, at most the broker's max payload size (default 1 MiB).
   */
  'payload'?: (Buffer | Uint8Array | string);
  /**
   * 0 (default) to 9. Within one tenant's turn higher priorities drain first,
   * ahead of that tenant's jobs a broker has already read ahead too; priority
   * never lets a tenant exceed its fair share.
   */
  'priority'?: (number);
  /**
   * Attempts before the job goes to the dead letter queue, 1–1000.
   * 0 = the broker default (3).
   */
  'max_attempts'?: (number);
  /**
   * Retry backoff; unset = broker defaults.
   */
  'backoff'?: (_rota_v1_Backoff | null);
  /**
   * Maximum run time of one attempt in ms, at most 7 days (604,800,000). When
   * it passes, the lease is revoked (a failed attempt) and the worker receives
   * Cancel. 0 = no limit.
   */
  'timeout_ms'?: (number);
  /**
   * Run no earlier than this many ms from now (at most 365 days). 0 = now.
   */
  'delay_ms'?: (number | string | Long);
  /**
   * Deduplication key, up to 256 characters, scoped to the tenant. A repeat
   * while the key is retained (default 24 h) returns the first job.
   */
  'idempotency_key'?: (string);
  /**
   * Free-form headers delivered with the lease. Carries the W3C trace context
   * (traceparent, tracestate). At most 64 entries of 8 KiB in all, not
   * counting the headers the protocol defines (content-type, traceparent,
   * tracestate) while each of those is at most 512 bytes.
   */
  'headers'?: ({[key: string]: string});
}

export interface EnqueueRequest__Output {
  /**
   * Owner of the job. Required.
   */
  'tenant': (string);
  /**
   * Kind of work; workers subscribe to queues. Required.
   */
  'queue': (string);
  /**
   * Opaque job data, at most the broker's max payload size (default 1 MiB).
   */
  'payload': (Buffer);
  /**
   * 0 (default) to 9. Within one tenant's turn higher priorities drain first,
   * ahead of that tenant's jobs a broker has already read ahead too; priority
   * never lets a tenant exceed its fair share.
   */
  'priority': (number);
  /**
   * Attempts before the job goes to the dead letter queue, 1–1000.
   * 0 = the broker default (3).
   */
  'max_attempts': (number);
  /**
   * Retry backoff; unset = broker defaults.
   */
  'backoff': (_rota_v1_Backoff__Output | null);
  /**
   * Maximum run time of one attempt in ms, at most 7 days (604,800,000). When
   * it passes, the lease is revoked (a failed attempt) and the worker receives
   * Cancel. 0 = no limit.
   */
  'timeout_ms': (number);
  /**
   * Run no earlier than this many ms from now (at most 365 days). 0 = now.
   */
  'delay_ms': (string);
  /**
   * Deduplication key, up to 256 characters, scoped to the tenant. A repeat
   * while the key is retained (default 24 h) returns the first job.
   */
  'idempotency_key': (string);
  /**
   * Free-form headers delivered with the lease. Carries the W3C trace context
   * (traceparent, tracestate). At most 64 entries of 8 KiB in all, not
   * counting the headers the protocol defines (content-type, traceparent,
   * tracestate) while each of those is at most 512 bytes.
   */
  'headers': ({[key: string]: string});
}
