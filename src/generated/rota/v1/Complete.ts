// Original file: proto/rota/v1/rota.proto


export interface Complete {
  'job_id'?: (string);
  'lease_token'?: (string);
  /**
   * Stored on the job record; at most the broker's max payload size.
   */
  'result'?: (Buffer | Uint8Array | string);
  /**
   * Media type of result, stored with it and answered in Job (at most 128
   * bytes; longer is refused with ACK_INVALID). The TS worker sends
   * application/json, or application/octet-stream for a Buffer result.
   */
  'result_content_type'?: (string);
}

export interface Complete__Output {
  'job_id': (string);
  'lease_token': (string);
  /**
   * Stored on the job record; at most the broker's max payload size.
   */
  'result': (Buffer);
  /**
   * Media type of result, stored with it and answered in Job (at most 128
   * bytes; longer is refused with ACK_INVALID). The TS worker sends
   * application/json, or application/octet-stream for a Buffer result.
   */
  'result_content_type': (string);
}
