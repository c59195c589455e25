// Original file: proto/rota/v1/rota.proto


/**
 * A lease the worker still holds, for re-attachment after a reconnect.
 */
export interface LeaseRef {
  'job_id'?: (string);
  'lease_token'?: (string);
  'tenant'?: (string);
}

/**
 * A lease the worker still holds, for re-attachment after a reconnect.
 */
export interface LeaseRef__Output {
  'job_id': (string);
  'lease_token': (string);
  'tenant': (string);
}
