// Original file: proto/rota/v1/rota.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Percentiles in ms, from buckets 2^(1/4) apart (within about 19 %).
 */
export interface Percentiles {
  'p50'?: (number | string);
  'p95'?: (number | string);
  'p99'?: (number | string);
  /**
   * Samples since the answering broker started counting this queue × tenant.
   */
  'count'?: (number | string | Long);
}

/**
 * Percentiles in ms, from buckets 2^(1/4) apart (within about 19 %).
 */
export interface Percentiles__Output {
  'p50': (number);
  'p95': (number);
  'p99': (number);
  /**
   * Samples since the answering broker started counting this queue × tenant.
   */
  'count': (string);
}
