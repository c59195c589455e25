// Original file: proto/rota/v1/rota.proto

import type { Welcome as _rota_v1_Welcome, Welcome__Output as _rota_v1_Welcome__Output } from '../../rota/v1/Welcome.js';
import type { LeaseBatch as _rota_v1_LeaseBatch, LeaseBatch__Output as _rota_v1_LeaseBatch__Output } from '../../rota/v1/LeaseBatch.js';
import type { Cancel as _rota_v1_Cancel, Cancel__Output as _rota_v1_Cancel__Output } from '../../rota/v1/Cancel.js';
import type { HeartbeatAck as _rota_v1_HeartbeatAck, HeartbeatAck__Output as _rota_v1_HeartbeatAck__Output } from '../../rota/v1/HeartbeatAck.js';
import type { AckResult as _rota_v1_AckResult, AckResult__Output as _rota_v1_AckResult__Output } from '../../rota/v1/AckResult.js';
import type { Drain as _rota_v1_Drain, Drain__Output as _rota_v1_Drain__Output } from '../../rota/v1/Drain.js';

export interface BrokerMessage {
  'welcome'?: (_rota_v1_Welcome | null);
  'leases'?: (_rota_v1_LeaseBatch | null);
  'cancel'?: (_rota_v1_Cancel | null);
  'heartbeat_ack'?: (_rota_v1_HeartbeatAck | null);
  'ack_result'?: (_rota_v1_AckResult | null);
  /**
   * The broker is shutting down: no more leases come. Finish and report what
   * you hold within Drain.grace_ms; then the stream ends and the worker
   * reconnects (to this broker once restarted, or another), re-attaching
   * whatever still runs.
   */
  'drain'?: (_rota_v1_Drain | null);
  'msg'?: "welcome"|"leases"|"cancel"|"heartbeat_ack"|"ack_result"|"drain";
}

export interface BrokerMessage__Output {
  'welcome'?: (_rota_v1_Welcome__Output | null);
  'leases'?: (_rota_v1_LeaseBatch__Output | null);
  'cancel'?: (_rota_v1_Cancel__Output | null);
  'heartbeat_ack'?: (_rota_v1_HeartbeatAck__Output | null);
  'ack_result'?: (_rota_v1_AckResult__Output | null);
  /**
   * The broker is shutting down: no more leases come. Finish and report what
   * you hold within Drain.grace_ms; then the stream ends and the worker
   * reconnects (to this broker once restarted, or another), re-attaching
   * whatever still runs.
   */
  'drain'?: (_rota_v1_Drain__Output | null);
  'msg'?: "welcome"|"leases"|"cancel"|"heartbeat_ack"|"ack_result"|"drain";
}
