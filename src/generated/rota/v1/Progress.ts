// Original file: proto/rota/v1/rota.proto


export interface Progress {
  'job_id'?: (string);
  'lease_token'?: (string);
  /**
   * Stored on the job record (opaque), replacing the progress before. At
   * most 64 KiB (65,536 bytes): larger is refused with ACK_INVALID ("progress
   * is N bytes; the limit is 65536"): the job keeps its previous progress,
   * and the lease stays the worker's.
   */
  'data'?: (Buffer | Uint8Array | string);
  /**
   * Media type of data, stored with it and answered in Job (at most 128
   * bytes; longer is refused with ACK_INVALID), as Complete's.
   */
  'content_type'?: (string);
}

export interface Progress__Output {
  'job_id': (string);
  'lease_token': (string);
  /**
   * Stored on the job record (opaque), replacing the progress before. At
   * most 64 KiB (65,536 bytes): larger is refused with ACK_INVALID ("progress
   * is N bytes; the limit is 65536"): the job keeps its previous progress,
   * and the lease stays the worker's.
   */
  'data': (Buffer);
  /**
   * Media type of data, stored with it and answered in Job (at most 128
   * bytes; longer is refused with ACK_INVALID), as Complete's.
   */
  'content_type': (string);
}
