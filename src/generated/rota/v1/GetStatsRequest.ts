// Original file: proto/rota/v1/rota.proto


export interface GetStatsRequest {
  /**
   * Only this queue; empty = every queue with work.
   */
  'queue'?: (string);
  /**
   * Only this tenant; empty = every tenant with work.
   */
  'tenant'?: (string);
}

export interface GetStatsRequest__Output {
  /**
   * Only this queue; empty = every queue with work.
   */
  'queue': (string);
  /**
   * Only this tenant; empty = every tenant with work.
   */
  'tenant': (string);
}
