// Original file: proto/rota/v1/rota.proto

import type { Complete as _rota_v1_Complete, Complete__Output as _rota_v1_Complete__Output } from '../../rota/v1/Complete.js';
import type { Fail as _rota_v1_Fail, Fail__Output as _rota_v1_Fail__Output } from '../../rota/v1/Fail.js';

/**
 * The broker reads messages of at most max(16 MiB, 2 × ROTA_MAX_PAYLOAD_BYTES
 * + 64 KiB); a larger one ends the Work stream with RESOURCE_EXHAUSTED and
 * none of its acks is recorded. Spread many large results over several Acks
 * (the TypeScript Worker puts at most about 4 MiB of results and messages in
 * one, and at least one ack).
 */
export interface Acks {
  'completed'?: (_rota_v1_Complete)[];
  'failed'?: (_rota_v1_Fail)[];
}

/**
 * The broker reads messages of at most max(16 MiB, 2 × ROTA_MAX_PAYLOAD_BYTES
 * + 64 KiB); a larger one ends the Work stream with RESOURCE_EXHAUSTED and
 * none of its acks is recorded. Spread many large results over several Acks
 * (the TypeScript Worker puts at most about 4 MiB of results and messages in
 * one, and at least one ack).
 */
export interface Acks__Output {
  'completed': (_rota_v1_Complete__Output)[];
  'failed': (_rota_v1_Fail__Output)[];
}
