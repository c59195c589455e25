// Original file: proto/rota/v1/rota.proto

import type { JobState as _rota_v1_JobState, JobState__Output as _rota_v1_JobState__Output } from '../../rota/v1/JobState.js';

export interface ListJobsRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * WAITING or DELAYED (the latter includes FAILED_RETRYING jobs).
   */
  'state'?: (_rota_v1_JobState);
  /**
   * 1–1000, default 100. A page holds fewer where its jobs' data passes about
   * 1 MiB (as ListDeadLetters). A page of WAITING jobs also ends after 10,000
   * stream entries: those of leased jobs stay in the stream until completed
   * and are skipped, so a page can be short, even empty, before the last.
   */
  'page_size'?: (number);
  /**
   * next_page_token of the previous page of the same state; empty for the first.
   */
  'page_token'?: (string);
}

export interface ListJobsRequest__Output {
  'tenant': (string);
  'queue': (string);
  /**
   * WAITING or DELAYED (the latter includes FAILED_RETRYING jobs).
   */
  'state': (_rota_v1_JobState__Output);
  /**
   * 1–1000, default 100. A page holds fewer where its jobs' data passes about
   * 1 MiB (as ListDeadLetters). A page of WAITING jobs also ends after 10,000
   * stream entries: those of leased jobs stay in the stream until completed
   * and are skipped, so a page can be short, even empty, before the last.
   */
  'page_size': (number);
  /**
   * next_page_token of the previous page of the same state; empty for the first.
   */
  'page_token': (string);
}
