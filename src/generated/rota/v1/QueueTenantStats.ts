// Original file: proto/rota/v1/rota.proto

import type { Percentiles as _rota_v1_Percentiles, Percentiles__Output as _rota_v1_Percentiles__Output } from '../../rota/v1/Percentiles.js';
import type { Long } from '@grpc/proto-loader';

export interface QueueTenantStats {
  'queue'?: (string);
  'tenant'?: (string);
  /**
   * Runnable, not yet read by any broker.
   */
  'waiting'?: (number | string | Long);
  /**
   * Waiting for their run time (delay or retry backoff).
   */
  'delayed'?: (number | string | Long);
  /**
   * Read by a broker: leased to a worker, or in a broker's prefetch buffer.
   */
  'leased'?: (number | string | Long);
  /**
   * In the dead letter queue.
   */
  'dead'?: (number | string | Long);
  /**
   * Age of the oldest waiting job (0 when none waits), since it became
   * runnable (enqueued, or its delay or retry backoff over; a replayed job:
   * its replay). A job a broker read ahead and gave back (it stopped, handed
   * its read-ahead over, or died and was reclaimed) keeps its age.
   */
  'oldest_waiting_age_ms'?: (number | string | Long);
  /**
   * Rates over the last minute, as seen by the answering broker.
   */
  'enqueued_per_second'?: (number | string);
  'completed_per_second'?: (number | string);
  'failed_per_second'?: (number | string);
  /**
   * Runnable → leased, and leased → acknowledged, as seen by the answering broker.
   */
  'wait_ms'?: (_rota_v1_Percentiles | null);
  'run_ms'?: (_rota_v1_Percentiles | null);
}

export interface QueueTenantStats__Output {
  'queue': (string);
  'tenant': (string);
  /**
   * Runnable, not yet read by any broker.
   */
  'waiting': (string);
  /**
   * Waiting for their run time (delay or retry backoff).
   */
  'delayed': (string);
  /**
   * Read by a broker: leased to a worker, or in a broker's prefetch buffer.
   */
  'leased': (string);
  /**
   * In the dead letter queue.
   */
  'dead': (string);
  /**
   * Age of the oldest waiting job (0 when none waits), since it became
   * runnable (enqueued, or its delay or retry backoff over; a replayed job:
   * its replay). A job a broker read ahead and gave back (it stopped, handed
   * its read-ahead over, or died and was reclaimed) keeps its age.
   */
  'oldest_waiting_age_ms': (string);
  /**
   * Rates over the last minute, as seen by the answering broker.
   */
  'enqueued_per_second': (number);
  'completed_per_second': (number);
  'failed_per_second': (number);
  /**
   * Runnable → leased, and leased → acknowledged, as seen by the answering broker.
   */
  'wait_ms': (_rota_v1_Percentiles__Output | null);
  'run_ms': (_rota_v1_Percentiles__Output | null);
}
