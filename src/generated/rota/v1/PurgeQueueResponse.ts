// Original file: proto/rota/v1/rota.proto


export interface PurgeQueueResponse {
  /**
   * Jobs cancelled.
   */
  'purged'?: (number);
}

export interface PurgeQueueResponse__Output {
  /**
   * Jobs cancelled.
   */
  'purged': (number);
}
