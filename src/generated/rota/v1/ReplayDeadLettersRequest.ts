// Original file: proto/rota/v1/rota.proto


export interface ReplayDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * Jobs to replay. Empty with all = true replays the whole dead letter queue.
   */
  'job_ids'?: (string)[];
  'all'?: (boolean);
}

export interface ReplayDeadLettersRequest__Output {
  'tenant': (string);
  'queue': (string);
  /**
   * Jobs to replay. Empty with all = true replays the whole dead letter queue.
   */
  'job_ids': (string)[];
  'all': (boolean);
}
