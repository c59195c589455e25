// Original file: proto/rota/v1/rota.proto

import type { JobState as _rota_v1_JobState, JobState__Output as _rota_v1_JobState__Output } from '../../rota/v1/JobState.js';

export interface CancelJobResponse {
  /**
   * True when this call cancelled the job; false when it had already ended.
   */
  'cancelled'?: (boolean);
  /**
   * The job's state after the call.
   */
  'state'?: (_rota_v1_JobState);
}

export interface CancelJobResponse__Output {
  /**
   * True when this call cancelled the job; false when it had already ended.
   */
  'cancelled': (boolean);
  /**
   * The job's state after the call.
   */
  'state': (_rota_v1_JobState__Output);
}
