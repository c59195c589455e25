// Original file: proto/rota/v1/rota.proto


export interface CancelJobRequest {
  'tenant'?: (string);
  'job_id'?: (string);
}

export interface CancelJobRequest__Output {
  'tenant': (string);
  'job_id': (string);
}
