// Original file: proto/rota/v1/rota.proto


export interface ListTenantsRequest {
}

export interface ListTenantsRequest__Output {
}
