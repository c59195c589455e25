// Original file: proto/rota/v1/rota.proto


export interface PurgeQueueRequest {
  'tenant'?: (string);
  'queue'?: (string);
}

export interface PurgeQueueRequest__Output {
  'tenant': (string);
  'queue': (string);
}
