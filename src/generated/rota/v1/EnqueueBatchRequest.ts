// Original file: proto/rota/v1/rota.proto

import type { EnqueueRequest as _rota_v1_EnqueueRequest, EnqueueRequest__Output as _rota_v1_EnqueueRequest__Output } from '../../rota/v1/EnqueueRequest.js';

export interface EnqueueBatchRequest {
  /**
   * The jobs, at most the broker's batch limit (default 1000).
   */
  'jobs'?: (_rota_v1_EnqueueRequest)[];
}

export interface EnqueueBatchRequest__Output {
  /**
   * The jobs, at most the broker's batch limit (default 1000).
   */
  'jobs': (_rota_v1_EnqueueRequest__Output)[];
}
