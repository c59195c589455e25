// Original file: proto/rota/v1/rota.proto

import type { EnqueueResult as _rota_v1_EnqueueResult, EnqueueResult__Output as _rota_v1_EnqueueResult__Output } from '../../rota/v1/EnqueueResult.js';
import type { Long } from '@grpc/proto-loader';

export interface EnqueueStreamResponse {
  /**
   * The request_id of the request answered.
   */
  'request_id'?: (number | string | Long);
  /**
   * One per job of the request, in the same order. A refusal of the whole
   * request (more jobs than the batch limit: INVALID_ARGUMENT) or a
   * broker-side failure of it (e.g. Redis unreachable: UNAVAILABLE) is
   * reported in every item; the stream stays open.
   */
  'results'?: (_rota_v1_EnqueueResult)[];
  /**
   * The broker's batch limit (ROTA_MAX_BATCH_SIZE), in every answer: a
   * request with more jobs than this was refused whole (nothing stored), and
   * later requests on this stream should hold at most this many. It holds for
   * this stream only: a restarted broker, or another one behind the same
   * address, may have another. 0 = not said (a broker older than this field).
   */
  'max_batch_size'?: (number);
}

export interface EnqueueStreamResponse__Output {
  /**
   * The request_id of the request answered.
   */
  'request_id': (string);
  /**
   * One per job of the request, in the same order. A refusal of the whole
   * request (more jobs than the batch limit: INVALID_ARGUMENT) or a
   * broker-side failure of it (e.g. Redis unreachable: UNAVAILABLE) is
   * reported in every item; the stream stays open.
   */
  'results': (_rota_v1_EnqueueResult__Output)[];
  /**
   * The broker's batch limit (ROTA_MAX_BATCH_SIZE), in every answer: a
   * request with more jobs than this was refused whole (nothing stored), and
   * later requests on this stream should hold at most this many. It holds for
   * this stream only: a restarted broker, or another one behind the same
   * address, may have another. 0 = not said (a broker older than this field).
   */
  'max_batch_size': (number);
}
