// Original file: proto/rota/v1/rota.proto


export interface Heartbeat {
}

export interface Heartbeat__Output {
}
