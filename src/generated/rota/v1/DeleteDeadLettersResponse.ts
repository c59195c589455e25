// Original file: proto/rota/v1/rota.proto


export interface DeleteDeadLettersResponse {
  /**
   * Dead jobs deleted.
   */
  'deleted'?: (number);
  /**
   * Ids that were not in this dead letter queue.
   */
  'not_found'?: (string)[];
}

export interface DeleteDeadLettersResponse__Output {
  /**
   * Dead jobs deleted.
   */
  'deleted': (number);
  /**
   * Ids that were not in this dead letter queue.
   */
  'not_found': (string)[];
}
