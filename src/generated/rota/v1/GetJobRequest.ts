// Original file: proto/rota/v1/rota.proto


export interface GetJobRequest {
  'tenant'?: (string);
  'job_id'?: (string);
}

export interface GetJobRequest__Output {
  'tenant': (string);
  'job_id': (string);
}
