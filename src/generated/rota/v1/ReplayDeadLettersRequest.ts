// Original file: proto/rota/v1/rota.proto


export interface ReplayDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * Jobs to replay (an id named twice counts once). Empty with all = true
   * replays the whole dead letter queue: the jobs dead when the call began
   * (one that dies again during a long replay waits for the next).
   */
  'job_ids'?: (string)[];
  'all'?: (boolean);
}

export interface ReplayDeadLettersRequest__Output {
  'tenant': (string);
  'queue': (string);
  /**
   * Jobs to replay (an id named twice counts once). Empty with all = true
   * replays the whole dead letter queue: the jobs dead when the call began
   * (one that dies again during a long replay waits for the next).
   */
  'job_ids': (string)[];
  'all': (boolean);
}
