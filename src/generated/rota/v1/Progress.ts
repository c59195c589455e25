// Original file: proto/rota/v1/rota.proto


export interface Progress {
  'job_id'?: (string);
  'lease_token'?: (string);
  /**
   * Stored on the job record (opaque; at most 64 KiB).
   */
  'data'?: (Buffer | Uint8Array | string);
}

export interface Progress__Output {
  'job_id': (string);
  'lease_token': (string);
  /**
   * Stored on the job record (opaque; at most 64 KiB).
   */
  'data': (Buffer);
}
