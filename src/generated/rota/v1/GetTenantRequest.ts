// Original file: proto/rota/v1/rota.proto


export interface GetTenantRequest {
  'tenant'?: (string);
}

export interface GetTenantRequest__Output {
  'tenant': (string);
}
