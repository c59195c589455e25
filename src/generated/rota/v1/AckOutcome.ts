// Original file: proto/rota/v1/rota.proto

import type { AckStatus as _rota_v1_AckStatus, AckStatus__Output as _rota_v1_AckStatus__Output } from '../../rota/v1/AckStatus.js';

export interface AckOutcome {
  'job_id'?: (string);
  'status'?: (_rota_v1_AckStatus);
  'message'?: (string);
}

export interface AckOutcome__Output {
  'job_id': (string);
  'status': (_rota_v1_AckStatus__Output);
  'message': (string);
}
