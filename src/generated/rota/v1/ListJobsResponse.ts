// Original file: proto/rota/v1/rota.proto

import type { Job as _rota_v1_Job, Job__Output as _rota_v1_Job__Output } from '../../rota/v1/Job.js';

export interface ListJobsResponse {
  'jobs'?: (_rota_v1_Job)[];
  /**
   * Empty on the last page.
   */
  'next_page_token'?: (string);
}

export interface ListJobsResponse__Output {
  'jobs': (_rota_v1_Job__Output)[];
  /**
   * Empty on the last page.
   */
  'next_page_token': (string);
}
