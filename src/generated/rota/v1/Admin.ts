// Original file: proto/rota/v1/rota.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DeleteDeadLettersRequest as _rota_v1_DeleteDeadLettersRequest, DeleteDeadLettersRequest__Output as _rota_v1_DeleteDeadLettersRequest__Output } from '../../rota/v1/DeleteDeadLettersRequest.js';
import type { DeleteDeadLettersResponse as _rota_v1_DeleteDeadLettersResponse, DeleteDeadLettersResponse__Output as _rota_v1_DeleteDeadLettersResponse__Output } from '../../rota/v1/DeleteDeadLettersResponse.js';
import type { GetStatsRequest as _rota_v1_GetStatsRequest, GetStatsRequest__Output as _rota_v1_GetStatsRequest__Output } from '../../rota/v1/GetStatsRequest.js';
import type { GetTenantRequest as _rota_v1_GetTenantRequest, GetTenantRequest__Output as _rota_v1_GetTenantRequest__Output } from '../../rota/v1/GetTenantRequest.js';
import type { ListDeadLettersRequest as _rota_v1_ListDeadLettersRequest, ListDeadLettersRequest__Output as _rota_v1_ListDeadLettersRequest__Output } from '../../rota/v1/ListDeadLettersRequest.js';
import type { ListDeadLettersResponse as _rota_v1_ListDeadLettersResponse, ListDeadLettersResponse__Output as _rota_v1_ListDeadLettersResponse__Output } from '../../rota/v1/ListDeadLettersResponse.js';
import type { ListJobsRequest as _rota_v1_ListJobsRequest, ListJobsRequest__Output as _rota_v1_ListJobsRequest__Output } from '../../rota/v1/ListJobsRequest.js';
import type { ListJobsResponse as _rota_v1_ListJobsResponse, ListJobsResponse__Output as _rota_v1_ListJobsResponse__Output } from '../../rota/v1/ListJobsResponse.js';
import type { ListTenantsRequest as _rota_v1_ListTenantsRequest, ListTenantsRequest__Output as _rota_v1_ListTenantsRequest__Output } from '../../rota/v1/ListTenantsRequest.js';
import type { ListTenantsResponse as _rota_v1_ListTenantsResponse, ListTenantsResponse__Output as _rota_v1_ListTenantsResponse__Output } from '../../rota/v1/ListTenantsResponse.js';
import type { PurgeQueueRequest as _rota_v1_PurgeQueueRequest, PurgeQueueRequest__Output as _rota_v1_PurgeQueueRequest__Output } from '../../rota/v1/PurgeQueueRequest.js';
import type { PurgeQueueResponse as _rota_v1_PurgeQueueResponse, PurgeQueueResponse__Output as _rota_v1_PurgeQueueResponse__Output } from '../../rota/v1/PurgeQueueResponse.js';
import type { ReplayDeadLettersRequest as _rota_v1_ReplayDeadLettersRequest, ReplayDeadLettersRequest__Output as _rota_v1_ReplayDeadLettersRequest__Output } from '../../rota/v1/ReplayDeadLettersRequest.js';
import type { ReplayDeadLettersResponse as _rota_v1_ReplayDeadLettersResponse, ReplayDeadLettersResponse__Output as _rota_v1_ReplayDeadLettersResponse__Output } from '../../rota/v1/ReplayDeadLettersResponse.js';
import type { SetTenantRequest as _rota_v1_SetTenantRequest, SetTenantRequest__Output as _rota_v1_SetTenantRequest__Output } from '../../rota/v1/SetTenantRequest.js';
import type { Stats as _rota_v1_Stats, Stats__Output as _rota_v1_Stats__Output } from '../../rota/v1/Stats.js';
import type { Tenant as _rota_v1_Tenant, Tenant__Output as _rota_v1_Tenant__Output } from '../../rota/v1/Tenant.js';

/**
 * Admin is the operator API. Every RPC needs an admin token. An admin token
 * with tenants may only name those; ListTenants and GetStats then show only
 * those tenants, and SetTenant may only pause and resume them.
 */
export interface AdminClient extends grpc.Client {
  /**
   * DeleteDeadLetters removes dead jobs for good, records and all (GetJob then
   * answers NOT_FOUND): the named ids, or every dead job of the tenant×queue.
   * Their idempotency keys stay (an Enqueue under one answers the deleted job
   * as a duplicate) until ROTA_IDEMPOTENCY_RETENTION_MS ends. Without it dead
   * jobs stay for ROTA_DEAD_RETENTION_MS. It works in steps as
   * ReplayDeadLetters does, and a step that fails the same way says how many
   * were deleted, at least ("the delete stopped after N dead jobs were deleted") and,
   * for a call by ids, which of them were not found.
   */
  DeleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  DeleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  DeleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  DeleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  /**
   * DeleteDeadLetters removes dead jobs for good, records and all (GetJob then
   * answers NOT_FOUND): the named ids, or every dead job of the tenant×queue.
   * Their idempotency keys stay (an Enqueue under one answers the deleted job
   * as a duplicate) until ROTA_IDEMPOTENCY_RETENTION_MS ends. Without it dead
   * jobs stay for ROTA_DEAD_RETENTION_MS. It works in steps as
   * ReplayDeadLetters does, and a step that fails the same way says how many
   * were deleted, at least ("the delete stopped after N dead jobs were deleted") and,
   * for a call by ids, which of them were not found.
   */
  deleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  deleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  deleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  deleteDeadLetters(argument: _rota_v1_DeleteDeadLettersRequest, callback: grpc.requestCallback<_rota_v1_DeleteDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * GetStats returns, per queue × tenant, the depth by state (from Redis) and
   * the answering broker's rates and wait/run percentiles (since it started;
   * a queue × tenant with no job event for an hour starts afresh, and so does
   * one of the longest idle when the broker keeps more than
   * ROTA_STATS_MAX_PAIRS).
   */
  GetStats(argument: _rota_v1_GetStatsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  GetStats(argument: _rota_v1_GetStatsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  GetStats(argument: _rota_v1_GetStatsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  GetStats(argument: _rota_v1_GetStatsRequest, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  /**
   * GetStats returns, per queue × tenant, the depth by state (from Redis) and
   * the answering broker's rates and wait/run percentiles (since it started;
   * a queue × tenant with no job event for an hour starts afresh, and so does
   * one of the longest idle when the broker keeps more than
   * ROTA_STATS_MAX_PAIRS).
   */
  getStats(argument: _rota_v1_GetStatsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  getStats(argument: _rota_v1_GetStatsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  getStats(argument: _rota_v1_GetStatsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  getStats(argument: _rota_v1_GetStatsRequest, callback: grpc.requestCallback<_rota_v1_Stats__Output>): grpc.ClientUnaryCall;
  
  /**
   * GetTenant returns a tenant's settings (defaults when none were stored).
   */
  GetTenant(argument: _rota_v1_GetTenantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  GetTenant(argument: _rota_v1_GetTenantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  GetTenant(argument: _rota_v1_GetTenantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  GetTenant(argument: _rota_v1_GetTenantRequest, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  /**
   * GetTenant returns a tenant's settings (defaults when none were stored).
   */
  getTenant(argument: _rota_v1_GetTenantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  getTenant(argument: _rota_v1_GetTenantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  getTenant(argument: _rota_v1_GetTenantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  getTenant(argument: _rota_v1_GetTenantRequest, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  
  /**
   * ListDeadLetters pages through a tenant×queue dead letter queue, newest first.
   */
  ListDeadLetters(argument: _rota_v1_ListDeadLettersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  ListDeadLetters(argument: _rota_v1_ListDeadLettersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  ListDeadLetters(argument: _rota_v1_ListDeadLettersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  ListDeadLetters(argument: _rota_v1_ListDeadLettersRequest, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  /**
   * ListDeadLetters pages through a tenant×queue dead letter queue, newest first.
   */
  listDeadLetters(argument: _rota_v1_ListDeadLettersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  listDeadLetters(argument: _rota_v1_ListDeadLettersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  listDeadLetters(argument: _rota_v1_ListDeadLettersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  listDeadLetters(argument: _rota_v1_ListDeadLettersRequest, callback: grpc.requestCallback<_rota_v1_ListDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * ListJobs pages through the jobs of a tenant×queue that wait to run:
   * WAITING ones (ready; also those a broker has read ahead but not leased)
   * in the order they will be leased, highest priority first, then oldest
   * first; or DELAYED ones (delayed, or waiting out a retry's backoff, state
   * FAILED_RETRYING) soonest due first. Jobs move on while it pages: one that
   * moves meanwhile may be missed or listed twice.
   */
  ListJobs(argument: _rota_v1_ListJobsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _rota_v1_ListJobsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _rota_v1_ListJobsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _rota_v1_ListJobsRequest, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * ListJobs pages through the jobs of a tenant×queue that wait to run:
   * WAITING ones (ready; also those a broker has read ahead but not leased)
   * in the order they will be leased, highest priority first, then oldest
   * first; or DELAYED ones (delayed, or waiting out a retry's backoff, state
   * FAILED_RETRYING) soonest due first. Jobs move on while it pages: one that
   * moves meanwhile may be missed or listed twice.
   */
  listJobs(argument: _rota_v1_ListJobsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _rota_v1_ListJobsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _rota_v1_ListJobsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _rota_v1_ListJobsRequest, callback: grpc.requestCallback<_rota_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * ListTenants returns every tenant with stored settings.
   */
  ListTenants(argument: _rota_v1_ListTenantsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  ListTenants(argument: _rota_v1_ListTenantsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  ListTenants(argument: _rota_v1_ListTenantsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  ListTenants(argument: _rota_v1_ListTenantsRequest, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * ListTenants returns every tenant with stored settings.
   */
  listTenants(argument: _rota_v1_ListTenantsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  listTenants(argument: _rota_v1_ListTenantsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  listTenants(argument: _rota_v1_ListTenantsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  listTenants(argument: _rota_v1_ListTenantsRequest, callback: grpc.requestCallback<_rota_v1_ListTenantsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * PurgeQueue cancels the jobs of a tenant×queue that wait to run: ready,
   * delayed, or waiting out a retry's backoff, enqueued before the call began.
   * Each ends CANCELLED, as by CancelJob. Leased jobs run to their end (cancel
   * them by id), dead jobs stay in the dead letter queue, and jobs enqueued
   * while it runs are kept. Pause the tenant or queue first (SetTenant) to
   * keep workers from taking the backlog meanwhile. It works in steps of a few
   * milliseconds of Redis. A step that fails fails the call (UNAVAILABLE when
   * Redis is unreachable), and the jobs of the steps before stay cancelled:
   * the status message says how many ("the purge stopped after N jobs were
   * cancelled"; at least N: the step under way when Redis went may still
   * run, its reply lost), and calling it again cancels the rest.
   */
  PurgeQueue(argument: _rota_v1_PurgeQueueRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  PurgeQueue(argument: _rota_v1_PurgeQueueRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  PurgeQueue(argument: _rota_v1_PurgeQueueRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  PurgeQueue(argument: _rota_v1_PurgeQueueRequest, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  /**
   * PurgeQueue cancels the jobs of a tenant×queue that wait to run: ready,
   * delayed, or waiting out a retry's backoff, enqueued before the call began.
   * Each ends CANCELLED, as by CancelJob. Leased jobs run to their end (cancel
   * them by id), dead jobs stay in the dead letter queue, and jobs enqueued
   * while it runs are kept. Pause the tenant or queue first (SetTenant) to
   * keep workers from taking the backlog meanwhile. It works in steps of a few
   * milliseconds of Redis. A step that fails fails the call (UNAVAILABLE when
   * Redis is unreachable), and the jobs of the steps before stay cancelled:
   * the status message says how many ("the purge stopped after N jobs were
   * cancelled"; at least N: the step under way when Redis went may still
   * run, its reply lost), and calling it again cancels the rest.
   */
  purgeQueue(argument: _rota_v1_PurgeQueueRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  purgeQueue(argument: _rota_v1_PurgeQueueRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  purgeQueue(argument: _rota_v1_PurgeQueueRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  purgeQueue(argument: _rota_v1_PurgeQueueRequest, callback: grpc.requestCallback<_rota_v1_PurgeQueueResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * ReplayDeadLetters moves dead jobs back to their ready queue with a fresh
   * attempt budget: the named ids, or every dead job of the tenant×queue. It
   * works in steps of 500 jobs. A step that fails fails the call (UNAVAILABLE
   * when Redis is unreachable), and the jobs of the steps before stay
   * replayed: the status message says how many ("the replay stopped after N
   * dead jobs were replayed"; at least N: the step under way when Redis went
   * may still run, its reply lost), and calling it again replays the rest. A call
   * by ids also says which of them the steps before did not find ("and K
   * job_ids were not found (a, b, … and M more)", the first 20 listed): called
   * again, it answers the ids already replayed in not_found as well.
   */
  ReplayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  ReplayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  ReplayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  ReplayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  /**
   * ReplayDeadLetters moves dead jobs back to their ready queue with a fresh
   * attempt budget: the named ids, or every dead job of the tenant×queue. It
   * works in steps of 500 jobs. A step that fails fails the call (UNAVAILABLE
   * when Redis is unreachable), and the jobs of the steps before stay
   * replayed: the status message says how many ("the replay stopped after N
   * dead jobs were replayed"; at least N: the step under way when Redis went
   * may still run, its reply lost), and calling it again replays the rest. A call
   * by ids also says which of them the steps before did not find ("and K
   * job_ids were not found (a, b, … and M more)", the first 20 listed): called
   * again, it answers the ids already replayed in not_found as well.
   */
  replayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  replayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  replayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  replayDeadLetters(argument: _rota_v1_ReplayDeadLettersRequest, callback: grpc.requestCallback<_rota_v1_ReplayDeadLettersResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * SetTenant stores a tenant's scheduling settings. Running brokers apply
   * them within a second. Fields left unset keep their current value, those
   * of a queue override too (pausing a queue keeps its weight and caps); a
   * queue override that sets nothing but its queue clears that queue's
   * override, so it follows the tenant's settings again.
   * An admin token with tenants may set only paused (of the tenant and of its
   * queues): a request that sets weight, rate, burst, max_in_flight,
   * max_queued or a queue's weight, rate, burst or max_in_flight, even to the
   * stored value, or clears a queue's override, is PERMISSION_DENIED and
   * changes nothing. Those take an admin token without tenants.
   */
  SetTenant(argument: _rota_v1_SetTenantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  SetTenant(argument: _rota_v1_SetTenantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  SetTenant(argument: _rota_v1_SetTenantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  SetTenant(argument: _rota_v1_SetTenantRequest, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  /**
   * SetTenant stores a tenant's scheduling settings. Running brokers apply
   * them within a second. Fields left unset keep their current value, those
   * of a queue override too (pausing a queue keeps its weight and caps); a
   * queue override that sets nothing but its queue clears that queue's
   * override, so it follows the tenant's settings again.
   * An admin token with tenants may set only paused (of the tenant and of its
   * queues): a request that sets weight, rate, burst, max_in_flight,
   * max_queued or a queue's weight, rate, burst or max_in_flight, even to the
   * stored value, or clears a queue's override, is PERMISSION_DENIED and
   * changes nothing. Those take an admin token without tenants.
   */
  setTenant(argument: _rota_v1_SetTenantRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  setTenant(argument: _rota_v1_SetTenantRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  setTenant(argument: _rota_v1_SetTenantRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  setTenant(argument: _rota_v1_SetTenantRequest, callback: grpc.requestCallback<_rota_v1_Tenant__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Admin is the operator API. Every RPC needs an admin token. An admin token
 * with tenants may only name those; ListTenants and GetStats then show only
 * those tenants, and SetTenant may only pause and resume them.
 */
export interface AdminHandlers extends grpc.UntypedServiceImplementation {
  /**
   * DeleteDeadLetters removes dead jobs for good, records and all (GetJob then
   * answers NOT_FOUND): the named ids, or every dead job of the tenant×queue.
   * Their idempotency keys stay (an Enqueue under one answers the deleted job
   * as a duplicate) until ROTA_IDEMPOTENCY_RETENTION_MS ends. Without it dead
   * jobs stay for ROTA_DEAD_RETENTION_MS. It works in steps as
   * ReplayDeadLetters does, and a step that fails the same way says how many
   * were deleted, at least ("the delete stopped after N dead jobs were deleted") and,
   * for a call by ids, which of them were not found.
   */
  DeleteDeadLetters: grpc.handleUnaryCall<_rota_v1_DeleteDeadLettersRequest__Output, _rota_v1_DeleteDeadLettersResponse>;
  
  /**
   * GetStats returns, per queue × tenant, the depth by state (from Redis) and
   * the answering broker's rates and wait/run percentiles (since it started;
   * a queue × tenant with no job event for an hour starts afresh, and so does
   * one of the longest idle when the broker keeps more than
   * ROTA_STATS_MAX_PAIRS).
   */
  GetStats: grpc.handleUnaryCall<_rota_v1_GetStatsRequest__Output, _rota_v1_Stats>;
  
  /**
   * GetTenant returns a tenant's settings (defaults when none were stored).
   */
  GetTenant: grpc.handleUnaryCall<_rota_v1_GetTenantRequest__Output, _rota_v1_Tenant>;
  
  /**
   * ListDeadLetters pages through a tenant×queue dead letter queue, newest first.
   */
  ListDeadLetters: grpc.handleUnaryCall<_rota_v1_ListDeadLettersRequest__Output, _rota_v1_ListDeadLettersResponse>;
  
  /**
   * ListJobs pages through the jobs of a tenant×queue that wait to run:
   * WAITING ones (ready; also those a broker has read ahead but not leased)
   * in the order they will be leased, highest priority first, then oldest
   * first; or DELAYED ones (delayed, or waiting out a retry's backoff, state
   * FAILED_RETRYING) soonest due first. Jobs move on while it pages: one that
   * moves meanwhile may be missed or listed twice.
   */
  ListJobs: grpc.handleUnaryCall<_rota_v1_ListJobsRequest__Output, _rota_v1_ListJobsResponse>;
  
  /**
   * ListTenants returns every tenant with stored settings.
   */
  ListTenants: grpc.handleUnaryCall<_rota_v1_ListTenantsRequest__Output, _rota_v1_ListTenantsResponse>;
  
  /**
   * PurgeQueue cancels the jobs of a tenant×queue that wait to run: ready,
   * delayed, or waiting out a retry's backoff, enqueued before the call began.
   * Each ends CANCELLED, as by CancelJob. Leased jobs run to their end (cancel
   * them by id), dead jobs stay in the dead letter queue, and jobs enqueued
   * while it runs are kept. Pause the tenant or queue first (SetTenant) to
   * keep workers from taking the backlog meanwhile. It works in steps of a few
   * milliseconds of Redis. A step that fails fails the call (UNAVAILABLE when
   * Redis is unreachable), and the jobs of the steps before stay cancelled:
   * the status message says how many ("the purge stopped after N jobs were
   * cancelled"; at least N: the step under way when Redis went may still
   * run, its reply lost), and calling it again cancels the rest.
   */
  PurgeQueue: grpc.handleUnaryCall<_rota_v1_PurgeQueueRequest__Output, _rota_v1_PurgeQueueResponse>;
  
  /**
   * ReplayDeadLetters moves dead jobs back to their ready queue with a fresh
   * attempt budget: the named ids, or every dead job of the tenant×queue. It
   * works in steps of 500 jobs. A step that fails fails the call (UNAVAILABLE
   * when Redis is unreachable), and the jobs of the steps before stay
   * replayed: the status message says how many ("the replay stopped after N
   * dead jobs were replayed"; at least N: the step under way when Redis went
   * may still run, its reply lost), and calling it again replays the rest. A call
   * by ids also says which of them the steps before did not find ("and K
   * job_ids were not found (a, b, … and M more)", the first 20 listed): called
   * again, it answers the ids already replayed in not_found as well.
   */
  ReplayDeadLetters: grpc.handleUnaryCall<_rota_v1_ReplayDeadLettersRequest__Output, _rota_v1_ReplayDeadLettersResponse>;
  
  /**
   * SetTenant stores a tenant's scheduling settings. Running brokers apply
   * them within a second. Fields left unset keep their current value, those
   * of a queue override too (pausing a queue keeps its weight and caps); a
   * queue override that sets nothing but its queue clears that queue's
   * override, so it follows the tenant's settings again.
   * An admin token with tenants may set only paused (of the tenant and of its
   * queues): a request that sets weight, rate, burst, max_in_flight,
   * max_queued or a queue's weight, rate, burst or max_in_flight, even to the
   * stored value, or clears a queue's override, is PERMISSION_DENIED and
   * changes nothing. Those take an admin token without tenants.
   */
  SetTenant: grpc.handleUnaryCall<_rota_v1_SetTenantRequest__Output, _rota_v1_Tenant>;
  
}

export interface AdminDefinition extends grpc.ServiceDefinition {
  DeleteDeadLetters: MethodDefinition<_rota_v1_DeleteDeadLettersRequest, _rota_v1_DeleteDeadLettersResponse, _rota_v1_DeleteDeadLettersRequest__Output, _rota_v1_DeleteDeadLettersResponse__Output>
  GetStats: MethodDefinition<_rota_v1_GetStatsRequest, _rota_v1_Stats, _rota_v1_GetStatsRequest__Output, _rota_v1_Stats__Output>
  GetTenant: MethodDefinition<_rota_v1_GetTenantRequest, _rota_v1_Tenant, _rota_v1_GetTenantRequest__Output, _rota_v1_Tenant__Output>
  ListDeadLetters: MethodDefinition<_rota_v1_ListDeadLettersRequest, _rota_v1_ListDeadLettersResponse, _rota_v1_ListDeadLettersRequest__Output, _rota_v1_ListDeadLettersResponse__Output>
  ListJobs: MethodDefinition<_rota_v1_ListJobsRequest, _rota_v1_ListJobsResponse, _rota_v1_ListJobsRequest__Output, _rota_v1_ListJobsResponse__Output>
  ListTenants: MethodDefinition<_rota_v1_ListTenantsRequest, _rota_v1_ListTenantsResponse, _rota_v1_ListTenantsRequest__Output, _rota_v1_ListTenantsResponse__Output>
  PurgeQueue: MethodDefinition<_rota_v1_PurgeQueueRequest, _rota_v1_PurgeQueueResponse, _rota_v1_PurgeQueueRequest__Output, _rota_v1_PurgeQueueResponse__Output>
  ReplayDeadLetters: MethodDefinition<_rota_v1_ReplayDeadLettersRequest, _rota_v1_ReplayDeadLettersResponse, _rota_v1_ReplayDeadLettersRequest__Output, _rota_v1_ReplayDeadLettersResponse__Output>
  SetTenant: MethodDefinition<_rota_v1_SetTenantRequest, _rota_v1_Tenant, _rota_v1_SetTenantRequest__Output, _rota_v1_Tenant__Output>
}
