// Original file: proto/rota/v1/rota.proto

import type { QueueTenantStats as _rota_v1_QueueTenantStats, QueueTenantStats__Output as _rota_v1_QueueTenantStats__Output } from '../../rota/v1/QueueTenantStats.js';
import type { Long } from '@grpc/proto-loader';

export interface Stats {
  'entries'?: (_rota_v1_QueueTenantStats)[];
  'generated_at_unix_ms'?: (number | string | Long);
  /**
   * True when there were more than 1000 rows; narrow by queue or tenant.
   */
  'truncated'?: (boolean);
}

export interface Stats__Output {
  'entries': (_rota_v1_QueueTenantStats__Output)[];
  'generated_at_unix_ms': (string);
  /**
   * True when there were more than 1000 rows; narrow by queue or tenant.
   */
  'truncated': (boolean);
}
