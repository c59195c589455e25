// Original file: proto/rota/v1/rota.proto


export interface Complete {
  'job_id'?: (string);
  'lease_token'?: (string);
  /**
   * Stored on the job record; at most the broker's max payload size.
   */
  'result'?: (Buffer | Uint8Array | string);
}

export interface Complete__Output {
  'job_id': (string);
  'lease_token': (string);
  /**
   * Stored on the job record; at most the broker's max payload size.
   */
  'result': (Buffer);
}
