// Original file: proto/rota/v1/rota.proto

import type { Lease as _rota_v1_Lease, Lease__Output as _rota_v1_Lease__Output } from '../../rota/v1/Lease.js';

export interface LeaseBatch {
  'leases'?: (_rota_v1_Lease)[];
}

export interface LeaseBatch__Output {
  'leases': (_rota_v1_Lease__Output)[];
}
