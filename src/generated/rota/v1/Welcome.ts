// Original file: proto/rota/v1/rota.proto


export interface Welcome {
  'session_id'?: (string);
  /**
   * Send a Heartbeat at least this often.
   */
  'heartbeat_interval_ms'?: (number);
  /**
   * A session silent for this long is dead and loses its leases.
   */
  'lease_ttl_ms'?: (number);
  /**
   * Protocol version the broker speaks (1).
   */
  'protocol_version'?: (number);
  /**
   * In-flight leases from Hello that were re-attached to this session (each
   * once). A lease re-attached leaves the session that held it: that session
   * is sent Cancel for it ("lease lost"), or, when its own Hello named the
   * lease too and its Welcome had not gone out yet, finds it in
   * refused_job_ids. It stays with the session whose Hello the broker
   * finished last.
   */
  'reattached_job_ids'?: (string)[];
  /**
   * In-flight leases from Hello that are no longer current (expired,
   * cancelled or already ended): the worker should stop those jobs.
   */
  'refused_job_ids'?: (string)[];
  /**
   * The largest Complete.result this broker records, in bytes (its
   * ROTA_MAX_PAYLOAD_BYTES). A larger result is refused with ACK_INVALID and
   * the lease stays the worker's, so a worker should send a non-retryable Fail
   * instead. 0 = not said (a broker older than this field).
   */
  'max_result_bytes'?: (number);
}

export interface Welcome__Output {
  'session_id': (string);
  /**
   * Send a Heartbeat at least this often.
   */
  'heartbeat_interval_ms': (number);
  /**
   * A session silent for this long is dead and loses its leases.
   */
  'lease_ttl_ms': (number);
  /**
   * Protocol version the broker speaks (1).
   */
  'protocol_version': (number);
  /**
   * In-flight leases from Hello that were re-attached to this session (each
   * once). A lease re-attached leaves the session that held it: that session
   * is sent Cancel for it ("lease lost"), or, when its own Hello named the
   * lease too and its Welcome had not gone out yet, finds it in
   * refused_job_ids. It stays with the session whose Hello the broker
   * finished last.
   */
  'reattached_job_ids': (string)[];
  /**
   * In-flight leases from Hello that are no longer current (expired,
   * cancelled or already ended): the worker should stop those jobs.
   */
  'refused_job_ids': (string)[];
  /**
   * The largest Complete.result this broker records, in bytes (its
   * ROTA_MAX_PAYLOAD_BYTES). A larger result is refused with ACK_INVALID and
   * the lease stays the worker's, so a worker should send a non-retryable Fail
   * instead. 0 = not said (a broker older than this field).
   */
  'max_result_bytes': (number);
}
