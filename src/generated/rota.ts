import type * as grpc from '@grpc/grpc-js';
import type { EnumTypeDefinition, MessageTypeDefinition } from '@grpc/proto-loader';

import type { AckOutcome as _rota_v1_AckOutcome, AckOutcome__Output as _rota_v1_AckOutcome__Output } from './rota/v1/AckOutcome.js';
import type { AckResult as _rota_v1_AckResult, AckResult__Output as _rota_v1_AckResult__Output } from './rota/v1/AckResult.js';
import type { Acks as _rota_v1_Acks, Acks__Output as _rota_v1_Acks__Output } from './rota/v1/Acks.js';
import type { AdminClient as _rota_v1_AdminClient, AdminDefinition as _rota_v1_AdminDefinition } from './rota/v1/Admin.js';
import type { Backoff as _rota_v1_Backoff, Backoff__Output as _rota_v1_Backoff__Output } from './rota/v1/Backoff.js';
import type { BrokerClient as _rota_v1_BrokerClient, BrokerDefinition as _rota_v1_BrokerDefinition } from './rota/v1/Broker.js';
import type { BrokerMessage as _rota_v1_BrokerMessage, BrokerMessage__Output as _rota_v1_BrokerMessage__Output } from './rota/v1/BrokerMessage.js';
import type { Cancel as _rota_v1_Cancel, Cancel__Output as _rota_v1_Cancel__Output } from './rota/v1/Cancel.js';
import type { CancelJobRequest as _rota_v1_CancelJobRequest, CancelJobRequest__Output as _rota_v1_CancelJobRequest__Output } from './rota/v1/CancelJobRequest.js';
import type { CancelJobResponse as _rota_v1_CancelJobResponse, CancelJobResponse__Output as _rota_v1_CancelJobResponse__Output } from './rota/v1/CancelJobResponse.js';
import type { Complete as _rota_v1_Complete, Complete__Output as _rota_v1_Complete__Output } from './rota/v1/Complete.js';
import type { Credit as _rota_v1_Credit, Credit__Output as _rota_v1_Credit__Output } from './rota/v1/Credit.js';
import type { DeleteDeadLettersRequest as _rota_v1_DeleteDeadLettersRequest, DeleteDeadLettersRequest__Output as _rota_v1_DeleteDeadLettersRequest__Output } from './rota/v1/DeleteDeadLettersRequest.js';
import type { DeleteDeadLettersResponse as _rota_v1_DeleteDeadLettersResponse, DeleteDeadLettersResponse__Output as _rota_v1_DeleteDeadLettersResponse__Output } from './rota/v1/DeleteDeadLettersResponse.js';
import type { Drain as _rota_v1_Drain, Drain__Output as _rota_v1_Drain__Output } from './rota/v1/Drain.js';
import type { EnqueueBatchRequest as _rota_v1_EnqueueBatchRequest, EnqueueBatchRequest__Output as _rota_v1_EnqueueBatchRequest__Output } from './rota/v1/EnqueueBatchRequest.js';
import type { EnqueueBatchResponse as _rota_v1_EnqueueBatchResponse, EnqueueBatchResponse__Output as _rota_v1_EnqueueBatchResponse__Output } from './rota/v1/EnqueueBatchResponse.js';
import type { EnqueueRequest as _rota_v1_EnqueueRequest, EnqueueRequest__Output as _rota_v1_EnqueueRequest__Output } from './rota/v1/EnqueueRequest.js';
import type { EnqueueResponse as _rota_v1_EnqueueResponse, EnqueueResponse__Output as _rota_v1_EnqueueResponse__Output } from './rota/v1/EnqueueResponse.js';
import type { EnqueueResult as _rota_v1_EnqueueResult, EnqueueResult__Output as _rota_v1_EnqueueResult__Output } from './rota/v1/EnqueueResult.js';
import type { EnqueueStreamRequest as _rota_v1_EnqueueStreamRequest, EnqueueStreamRequest__Output as _rota_v1_EnqueueStreamRequest__Output } from './rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse as _rota_v1_EnqueueStreamResponse, EnqueueStreamResponse__Output as _rota_v1_EnqueueStreamResponse__Output } from './rota/v1/EnqueueStreamResponse.js';
import type { Fail as _rota_v1_Fail, Fail__Output as _rota_v1_Fail__Output } from './rota/v1/Fail.js';
import type { GetJobRequest as _rota_v1_GetJobRequest, GetJobRequest__Output as _rota_v1_GetJobRequest__Output } from './rota/v1/GetJobRequest.js';
import type { GetStatsRequest as _rota_v1_GetStatsRequest, GetStatsRequest__Output as _rota_v1_GetStatsRequest__Output } from './rota/v1/GetStatsRequest.js';
import type { GetTenantRequest as _rota_v1_GetTenantRequest, GetTenantRequest__Output as _rota_v1_GetTenantRequest__Output } from './rota/v1/GetTenantRequest.js';
import type { Heartbeat as _rota_v1_Heartbeat, Heartbeat__Output as _rota_v1_Heartbeat__Output } from './rota/v1/Heartbeat.js';
import type { HeartbeatAck as _rota_v1_HeartbeatAck, HeartbeatAck__Output as _rota_v1_HeartbeatAck__Output } from './rota/v1/HeartbeatAck.js';
import type { Hello as _rota_v1_Hello, Hello__Output as _rota_v1_Hello__Output } from './rota/v1/Hello.js';
import type { Job as _rota_v1_Job, Job__Output as _rota_v1_Job__Output } from './rota/v1/Job.js';
import type { Lease as _rota_v1_Lease, Lease__Output as _rota_v1_Lease__Output } from './rota/v1/Lease.js';
import type { LeaseBatch as _rota_v1_LeaseBatch, LeaseBatch__Output as _rota_v1_LeaseBatch__Output } from './rota/v1/LeaseBatch.js';
import type { LeaseRef as _rota_v1_LeaseRef, LeaseRef__Output as _rota_v1_LeaseRef__Output } from './rota/v1/LeaseRef.js';
import type { ListDeadLettersRequest as _rota_v1_ListDeadLettersRequest, ListDeadLettersRequest__Output as _rota_v1_ListDeadLettersRequest__Output } from './rota/v1/ListDeadLettersRequest.js';
import type { ListDeadLettersResponse as _rota_v1_ListDeadLettersResponse, ListDeadLettersResponse__Output as _rota_v1_ListDeadLettersResponse__Output } from './rota/v1/ListDeadLettersResponse.js';
import type { ListJobsRequest as _rota_v1_ListJobsRequest, ListJobsRequest__Output as _rota_v1_ListJobsRequest__Output } from './rota/v1/ListJobsRequest.js';
import type { ListJobsResponse as _rota_v1_ListJobsResponse, ListJobsResponse__Output as _rota_v1_ListJobsResponse__Output } from './rota/v1/ListJobsResponse.js';
import type { ListTenantsRequest as _rota_v1_ListTenantsRequest, ListTenantsRequest__Output as _rota_v1_ListTenantsRequest__Output } from './rota/v1/ListTenantsRequest.js';
import type { ListTenantsResponse as _rota_v1_ListTenantsResponse, ListTenantsResponse__Output as _rota_v1_ListTenantsResponse__Output } from './rota/v1/ListTenantsResponse.js';
import type { Percentiles as _rota_v1_Percentiles, Percentiles__Output as _rota_v1_Percentiles__Output } from './rota/v1/Percentiles.js';
import type { Progress as _rota_v1_Progress, Progress__Output as _rota_v1_Progress__Output } from './rota/v1/Progress.js';
import type { PurgeQueueRequest as _rota_v1_PurgeQueueRequest, PurgeQueueRequest__Output as _rota_v1_PurgeQueueRequest__Output } from './rota/v1/PurgeQueueRequest.js';
import type { PurgeQueueResponse as _rota_v1_PurgeQueueResponse, PurgeQueueResponse__Output as _rota_v1_PurgeQueueResponse__Output } from './rota/v1/PurgeQueueResponse.js';
import type { QueueSettings as _rota_v1_QueueSettings, QueueSettings__Output as _rota_v1_QueueSettings__Output } from './rota/v1/QueueSettings.js';
import type { QueueTenantStats as _rota_v1_QueueTenantStats, QueueTenantStats__Output as _rota_v1_QueueTenantStats__Output } from './rota/v1/QueueTenantStats.js';
import type { ReplayDeadLettersRequest as _rota_v1_ReplayDeadLettersRequest, ReplayDeadLettersRequest__Output as _rota_v1_ReplayDeadLettersRequest__Output } from './rota/v1/ReplayDeadLettersRequest.js';
import type { ReplayDeadLettersResponse as _rota_v1_ReplayDeadLettersResponse, ReplayDeadLettersResponse__Output as _rota_v1_ReplayDeadLettersResponse__Output } from './rota/v1/ReplayDeadLettersResponse.js';
import type { SetTenantRequest as _rota_v1_SetTenantRequest, SetTenantRequest__Output as _rota_v1_SetTenantRequest__Output } from './rota/v1/SetTenantRequest.js';
import type { Stats as _rota_v1_Stats, Stats__Output as _rota_v1_Stats__Output } from './rota/v1/Stats.js';
import type { Tenant as _rota_v1_Tenant, Tenant__Output as _rota_v1_Tenant__Output } from './rota/v1/Tenant.js';
import type { Welcome as _rota_v1_Welcome, Welcome__Output as _rota_v1_Welcome__Output } from './rota/v1/Welcome.js';
import type { WorkerMessage as _rota_v1_WorkerMessage, WorkerMessage__Output as _rota_v1_WorkerMessage__Output } from './rota/v1/WorkerMessage.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  rota: {
    v1: {
      AckOutcome: MessageTypeDefinition<_rota_v1_AckOutcome, _rota_v1_AckOutcome__Output>
      AckResult: MessageTypeDefinition<_rota_v1_AckResult, _rota_v1_AckResult__Output>
      AckStatus: EnumTypeDefinition
      Acks: MessageTypeDefinition<_rota_v1_Acks, _rota_v1_Acks__Output>
      /**
       * Admin is the operator API. Every RPC needs an admin token. An admin token
       * with tenants may only name those; ListTenants and GetStats then show only
       * those tenants, and SetTenant may only pause and resume them.
       */
      Admin: SubtypeConstructor<typeof grpc.Client, _rota_v1_AdminClient> & { service: _rota_v1_AdminDefinition }
      Backoff: MessageTypeDefinition<_rota_v1_Backoff, _rota_v1_Backoff__Output>
      /**
       * Broker is the producer and worker API.
       */
      Broker: SubtypeConstructor<typeof grpc.Client, _rota_v1_BrokerClient> & { service: _rota_v1_BrokerDefinition }
      BrokerMessage: MessageTypeDefinition<_rota_v1_BrokerMessage, _rota_v1_BrokerMessage__Output>
      Cancel: MessageTypeDefinition<_rota_v1_Cancel, _rota_v1_Cancel__Output>
      CancelJobRequest: MessageTypeDefinition<_rota_v1_CancelJobRequest, _rota_v1_CancelJobRequest__Output>
      CancelJobResponse: MessageTypeDefinition<_rota_v1_CancelJobResponse, _rota_v1_CancelJobResponse__Output>
      Complete: MessageTypeDefinition<_rota_v1_Complete, _rota_v1_Complete__Output>
      Credit: MessageTypeDefinition<_rota_v1_Credit, _rota_v1_Credit__Output>
      DeleteDeadLettersRequest: MessageTypeDefinition<_rota_v1_DeleteDeadLettersRequest, _rota_v1_DeleteDeadLettersRequest__Output>
      DeleteDeadLettersResponse: MessageTypeDefinition<_rota_v1_DeleteDeadLettersResponse, _rota_v1_DeleteDeadLettersResponse__Output>
      Drain: MessageTypeDefinition<_rota_v1_Drain, _rota_v1_Drain__Output>
      EnqueueBatchRequest: MessageTypeDefinition<_rota_v1_EnqueueBatchRequest, _rota_v1_EnqueueBatchRequest__Output>
      EnqueueBatchResponse: MessageTypeDefinition<_rota_v1_EnqueueBatchResponse, _rota_v1_EnqueueBatchResponse__Output>
      EnqueueRequest: MessageTypeDefinition<_rota_v1_EnqueueRequest, _rota_v1_EnqueueRequest__Output>
      EnqueueResponse: MessageTypeDefinition<_rota_v1_EnqueueResponse, _rota_v1_EnqueueResponse__Output>
      EnqueueResult: MessageTypeDefinition<_rota_v1_EnqueueResult, _rota_v1_EnqueueResult__Output>
      EnqueueStreamRequest: MessageTypeDefinition<_rota_v1_EnqueueStreamRequest, _rota_v1_EnqueueStreamRequest__Output>
      EnqueueStreamResponse: MessageTypeDefinition<_rota_v1_EnqueueStreamResponse, _rota_v1_EnqueueStreamResponse__Output>
      Fail: MessageTypeDefinition<_rota_v1_Fail, _rota_v1_Fail__Output>
      GetJobRequest: MessageTypeDefinition<_rota_v1_GetJobRequest, _rota_v1_GetJobRequest__Output>
      GetStatsRequest: MessageTypeDefinition<_rota_v1_GetStatsRequest, _rota_v1_GetStatsRequest__Output>
      GetTenantRequest: MessageTypeDefinition<_rota_v1_GetTenantRequest, _rota_v1_GetTenantRequest__Output>
      Heartbeat: MessageTypeDefinition<_rota_v1_Heartbeat, _rota_v1_Heartbeat__Output>
      HeartbeatAck: MessageTypeDefinition<_rota_v1_HeartbeatAck, _rota_v1_HeartbeatAck__Output>
      Hello: MessageTypeDefinition<_rota_v1_Hello, _rota_v1_Hello__Output>
      Job: MessageTypeDefinition<_rota_v1_Job, _rota_v1_Job__Output>
      JobState: EnumTypeDefinition
      Lease: MessageTypeDefinition<_rota_v1_Lease, _rota_v1_Lease__Output>
      LeaseBatch: MessageTypeDefinition<_rota_v1_LeaseBatch, _rota_v1_LeaseBatch__Output>
      LeaseRef: MessageTypeDefinition<_rota_v1_LeaseRef, _rota_v1_LeaseRef__Output>
      ListDeadLettersRequest: MessageTypeDefinition<_rota_v1_ListDeadLettersRequest, _rota_v1_ListDeadLettersRequest__Output>
      ListDeadLettersResponse: MessageTypeDefinition<_rota_v1_ListDeadLettersResponse, _rota_v1_ListDeadLettersResponse__Output>
      ListJobsRequest: MessageTypeDefinition<_rota_v1_ListJobsRequest, _rota_v1_ListJobsRequest__Output>
      ListJobsResponse: MessageTypeDefinition<_rota_v1_ListJobsResponse, _rota_v1_ListJobsResponse__Output>
      ListTenantsRequest: MessageTypeDefinition<_rota_v1_ListTenantsRequest, _rota_v1_ListTenantsRequest__Output>
      ListTenantsResponse: MessageTypeDefinition<_rota_v1_ListTenantsResponse, _rota_v1_ListTenantsResponse__Output>
      Percentiles: MessageTypeDefinition<_rota_v1_Percentiles, _rota_v1_Percentiles__Output>
      Progress: MessageTypeDefinition<_rota_v1_Progress, _rota_v1_Progress__Output>
      PurgeQueueRequest: MessageTypeDefinition<_rota_v1_PurgeQueueRequest, _rota_v1_PurgeQueueRequest__Output>
      PurgeQueueResponse: MessageTypeDefinition<_rota_v1_PurgeQueueResponse, _rota_v1_PurgeQueueResponse__Output>
      QueueSettings: MessageTypeDefinition<_rota_v1_QueueSettings, _rota_v1_QueueSettings__Output>
      QueueTenantStats: MessageTypeDefinition<_rota_v1_QueueTenantStats, _rota_v1_QueueTenantStats__Output>
      ReplayDeadLettersRequest: MessageTypeDefinition<_rota_v1_ReplayDeadLettersRequest, _rota_v1_ReplayDeadLettersRequest__Output>
      ReplayDeadLettersResponse: MessageTypeDefinition<_rota_v1_ReplayDeadLettersResponse, _rota_v1_ReplayDeadLettersResponse__Output>
      SetTenantRequest: MessageTypeDefinition<_rota_v1_SetTenantRequest, _rota_v1_SetTenantRequest__Output>
      Stats: MessageTypeDefinition<_rota_v1_Stats, _rota_v1_Stats__Output>
      Tenant: MessageTypeDefinition<_rota_v1_Tenant, _rota_v1_Tenant__Output>
      Welcome: MessageTypeDefinition<_rota_v1_Welcome, _rota_v1_Welcome__Output>
      WorkerMessage: MessageTypeDefinition<_rota_v1_WorkerMessage, _rota_v1_WorkerMessage__Output>
    }
  }
}

