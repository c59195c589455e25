// Original file: proto/rota/v1/rota.proto

import type { Job as _rota_v1_Job, Job__Output as _rota_v1_Job__Output } from '../../rota/v1/Job.js';
import type { Long } from '@grpc/proto-loader';

export interface ListDeadLettersResponse {
  'jobs'?: (_rota_v1_Job)[];
  /**
   * Empty on the last page.
   */
  'next_page_token'?: (string);
  /**
   * Dead jobs in this tenant×queue.
   */
  'total'?: (number | string | Long);
}

export interface ListDeadLettersResponse__Output {
  'jobs': (_rota_v1_Job__Output)[];
  /**
   * Empty on the last page.
   */
  'next_page_token': (string);
  /**
   * Dead jobs in this tenant×queue.
   */
  'total': (string);
}
