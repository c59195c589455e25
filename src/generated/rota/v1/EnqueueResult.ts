// Original file: proto/rota/v1/rota.proto


/**
 * One item of EnqueueBatchResponse, in request order.
 */
export interface EnqueueResult {
  /**
   * Set when the item was stored (or was a duplicate).
   */
  'job_id'?: (string);
  'duplicate'?: (boolean);
  /**
   * gRPC status code of this item: 0 (OK) or the code Enqueue would return.
   */
  'code'?: (number);
  /**
   * What to fix, when code is not 0.
   */
  'error'?: (string);
}

/**
 * One item of EnqueueBatchResponse, in request order.
 */
export interface EnqueueResult__Output {
  /**
   * Set when the item was stored (or was a duplicate).
   */
  'job_id': (string);
  'duplicate': (boolean);
  /**
   * gRPC status code of this item: 0 (OK) or the code Enqueue would return.
   */
  'code': (number);
  /**
   * What to fix, when code is not 0.
   */
  'error': (string);
}
