// Original file: proto/rota/v1/rota.proto

import type { Tenant as _rota_v1_Tenant, Tenant__Output as _rota_v1_Tenant__Output } from '../../rota/v1/Tenant.js';

export interface ListTenantsResponse {
  'tenants'?: (_rota_v1_Tenant)[];
}

export interface ListTenantsResponse__Output {
  'tenants': (_rota_v1_Tenant__Output)[];
}
