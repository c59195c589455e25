// Original file: proto/rota/v1/rota.proto

import type { Complete as _rota_v1_Complete, Complete__Output as _rota_v1_Complete__Output } from '../../rota/v1/Complete.js';
import type { Fail as _rota_v1_Fail, Fail__Output as _rota_v1_Fail__Output } from '../../rota/v1/Fail.js';

export interface Acks {
  'completed'?: (_rota_v1_Complete)[];
  'failed'?: (_rota_v1_Fail)[];
}

export interface Acks__Output {
  'completed': (_rota_v1_Complete__Output)[];
  'failed': (_rota_v1_Fail__Output)[];
}
