// Original file: proto/rota/v1/rota.proto

import type { Hello as _rota_v1_Hello, Hello__Output as _rota_v1_Hello__Output } from '../../rota/v1/Hello.js';
import type { Heartbeat as _rota_v1_Heartbeat, Heartbeat__Output as _rota_v1_Heartbeat__Output } from '../../rota/v1/Heartbeat.js';
import type { Complete as _rota_v1_Complete, Complete__Output as _rota_v1_Complete__Output } from '../../rota/v1/Complete.js';
import type { Fail as _rota_v1_Fail, Fail__Output as _rota_v1_Fail__Output } from '../../rota/v1/Fail.js';
import type { Progress as _rota_v1_Progress, Progress__Output as _rota_v1_Progress__Output } from '../../rota/v1/Progress.js';
import type { Credit as _rota_v1_Credit, Credit__Output as _rota_v1_Credit__Output } from '../../rota/v1/Credit.js';
import type { Drain as _rota_v1_Drain, Drain__Output as _rota_v1_Drain__Output } from '../../rota/v1/Drain.js';
import type { Acks as _rota_v1_Acks, Acks__Output as _rota_v1_Acks__Output } from '../../rota/v1/Acks.js';

export interface WorkerMessage {
  'hello'?: (_rota_v1_Hello | null);
  'heartbeat'?: (_rota_v1_Heartbeat | null);
  'complete'?: (_rota_v1_Complete | null);
  'fail'?: (_rota_v1_Fail | null);
  'progress'?: (_rota_v1_Progress | null);
  'credit'?: (_rota_v1_Credit | null);
  'drain'?: (_rota_v1_Drain | null);
  /**
   * Many completions and failures in one message (preferred by busy workers).
   */
  'acks'?: (_rota_v1_Acks | null);
  'msg'?: "hello"|"heartbeat"|"complete"|"fail"|"progress"|"credit"|"drain"|"acks";
}

export interface WorkerMessage__Output {
  'hello'?: (_rota_v1_Hello__Output | null);
  'heartbeat'?: (_rota_v1_Heartbeat__Output | null);
  'complete'?: (_rota_v1_Complete__Output | null);
  'fail'?: (_rota_v1_Fail__Output | null);
  'progress'?: (_rota_v1_Progress__Output | null);
  'credit'?: (_rota_v1_Credit__Output | null);
  'drain'?: (_rota_v1_Drain__Output | null);
  /**
   * Many completions and failures in one message (preferred by busy workers).
   */
  'acks'?: (_rota_v1_Acks__Output | null);
  'msg'?: "hello"|"heartbeat"|"complete"|"fail"|"progress"|"credit"|"drain"|"acks";
}
