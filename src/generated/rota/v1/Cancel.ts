// Original file: proto/rota/v1/rota.proto


export interface Cancel {
  'job_id'?: (string);
  /**
   * Why: "cancelled", "timeout" or "lease lost".
   */
  'reason'?: (string);
}

export interface Cancel__Output {
  'job_id': (string);
  /**
   * Why: "cancelled", "timeout" or "lease lost".
   */
  'reason': (string);
}
