// Original file: proto/rota/v1/rota.proto


export interface Complete {
  'job_id'?: (string);
  'lease_token'?: (string);
  /**
   * Stored on the job record; at most Welcome.max_result_bytes (the broker's
   * ROTA_MAX_PAYLOAD_BYTES). Larger is refused with ACK_INVALID and the lease
   * stays the worker's: send a non-retryable Fail instead.
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
   * Stored on the job record; at most Welcome.max_result_bytes (the broker's
   * ROTA_MAX_PAYLOAD_BYTES). Larger is refused with ACK_INVALID and the lease
   * stays the worker's: send a non-retryable Fail instead.
   */
  'result': (Buffer);
  /**
   * Media type of result, stored with it and answered in Job (at most 128
   * bytes; longer is refused with ACK_INVALID). The TS worker sends
   * application/json, or application/octet-stream for a Buffer result.
   */
  'result_content_type': (string);
}
