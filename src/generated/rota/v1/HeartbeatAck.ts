// Original file: proto/rota/v1/rota.proto

import type { Long } from '@grpc/proto-loader';

export interface HeartbeatAck {
  'server_time_unix_ms'?: (number | string | Long);
}

export interface HeartbeatAck__Output {
  'server_time_unix_ms': (string);
}
