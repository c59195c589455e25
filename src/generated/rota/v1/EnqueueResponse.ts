// Original file: proto/rota/v1/rota.proto


export interface EnqueueResponse {
  /**
   * The job's id (the first job's id for a duplicate).
   */
  'job_id'?: (string);
  /**
   * True when idempotency_key matched an existing job and nothing was stored.
   */
  'duplicate'?: (boolean);
}

export interface EnqueueResponse__Output {
  /**
   * The job's id (the first job's id for a duplicate).
   */
  'job_id': (string);
  /**
   * True when idempotency_key matched an existing job and nothing was stored.
   */
  'duplicate': (boolean);
}
