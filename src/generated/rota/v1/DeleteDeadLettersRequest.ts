// Original file: proto/rota/v1/rota.proto


export interface DeleteDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * Jobs to delete (an id named twice counts once). Empty with all = true
   * deletes the whole dead letter queue: the jobs dead when the call began.
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
   */
  'job_ids': (string)[];
  'all': (boolean);
}
