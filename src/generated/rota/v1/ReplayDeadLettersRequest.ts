// Original file: proto/rota/v1/rota.proto


export interface ReplayDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * Jobs to replay (an id named twice counts once). Empty with all = true
   * replays the whole dead letter queue: the jobs dead when the call began
   * (one that dies again during a long replay waits for the next). At most
   * 10,000 ids, repeats included, so the answer's not_found stays well within
   * a client's receive limit: a call naming more is INVALID_ARGUMENT and
   * replays nothing; split the ids over several calls, or use all.
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
   * (one that dies again during a long replay waits for the next). At most
   * 10,000 ids, repeats included, so the answer's not_found stays well within
   * a client's receive limit: a call naming more is INVALID_ARGUMENT and
   * replays nothing; split the ids over several calls, or use all.
   */
  'job_ids': (string)[];
  'all': (boolean);
}
