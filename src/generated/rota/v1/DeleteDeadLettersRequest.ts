// Original file: proto/rota/v1/rota.proto


export interface DeleteDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * Jobs to delete (an id named twice counts once). Empty with all = true
   * deletes the whole dead letter queue: the jobs dead when the call began.
   * At most 10,000 ids, as ReplayDeadLettersRequest.job_ids: a call naming
   * more is INVALID_ARGUMENT and deletes nothing.
   */
  'job_ids'?: (string)[];
  'all'?: (boolean);
}

export interface DeleteDeadLettersRequest__Output {
  'tenant': (string);
  'queue': (string);
  /**
   * Jobs to delete (an id named twice counts once). Empty with all = true
   * deletes the whole dead letter queue: the jobs dead when the call began.
   * At most 10,000 ids, as ReplayDeadLettersRequest.job_ids: a call naming
   * more is INVALID_ARGUMENT and deletes nothing.
   */
  'job_ids': (string)[];
  'all': (boolean);
}
