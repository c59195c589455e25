// Original file: proto/rota/v1/rota.proto

import type { EnqueueResult as _rota_v1_EnqueueResult, EnqueueResult__Output as _rota_v1_EnqueueResult__Output } from '../../rota/v1/EnqueueResult.js';

export interface EnqueueBatchResponse {
  'results'?: (_rota_v1_EnqueueResult)[];
}

export interface EnqueueBatchResponse__Output {
  'results': (_rota_v1_EnqueueResult__Output)[];
}
