// Original file: proto/rota/v1/rota.proto

import type { EnqueueRequest as _rota_v1_EnqueueRequest, EnqueueRequest__Output as _rota_v1_EnqueueRequest__Output } from '../../rota/v1/EnqueueRequest.js';
import type { Long } from '@grpc/proto-loader';

export interface EnqueueStreamRequest {
  /**
   * Chosen by the client, echoed in the answer; unique among its unanswered requests.
   */
  'request_id'?: (number | string | Long);
  /**
   * The jobs, at most the broker's batch limit (default 1000).
   */
  'jobs'?: (_rota_v1_EnqueueRequest)[];
}

export interface EnqueueStreamRequest__Output {
  /**
   * Chosen by the client, echoed in the answer; unique among its unanswered requests.
   */
  'request_id': (string);
  /**
   * The jobs, at most the broker's batch limit (default 1000).
   */
  'jobs': (_rota_v1_EnqueueRequest__Output)[];
}
