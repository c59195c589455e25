// Original file: proto/rota/v1/rota.proto


export interface ReplayDeadLettersResponse {
  /**
   * Jobs moved back to their ready queue.
   */
  'replayed'?: (number);
  /**
   * Ids that were not in this dead letter queue.
   */
  'not_found'?: (string)[];
}

export interface ReplayDeadLettersResponse__Output {
  /**
   * Jobs moved back to their ready queue.
   */
  'replayed': (number);
  /**
   * Ids that were not in this dead letter queue.
   */
  'not_found': (string)[];
}
