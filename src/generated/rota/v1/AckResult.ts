// Original file: proto/rota/v1/rota.proto

import type { AckOutcome as _rota_v1_AckOutcome, AckOutcome__Output as _rota_v1_AckOutcome__Output } from '../../rota/v1/AckOutcome.js';

/**
 * Outcome of acks that were not recorded. Successful acks are not echoed.
 */
export interface AckResult {
  'outcomes'?: (_rota_v1_AckOutcome)[];
}

/**
 * Outcome of acks that were not recorded. Successful acks are not echoed.
 */
export interface AckResult__Output {
  'outcomes': (_rota_v1_AckOutcome__Output)[];
}
