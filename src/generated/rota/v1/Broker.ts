// Original file: proto/rota/v1/rota.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { BrokerMessage as _rota_v1_BrokerMessage, BrokerMessage__Output as _rota_v1_BrokerMessage__Output } from '../../rota/v1/BrokerMessage.js';
import type { CancelJobRequest as _rota_v1_CancelJobRequest, CancelJobRequest__Output as _rota_v1_CancelJobRequest__Output } from '../../rota/v1/CancelJobRequest.js';
import type { CancelJobResponse as _rota_v1_CancelJobResponse, CancelJobResponse__Output as _rota_v1_CancelJobResponse__Output } from '../../rota/v1/CancelJobResponse.js';
import type { EnqueueBatchRequest as _rota_v1_EnqueueBatchRequest, EnqueueBatchRequest__Output as _rota_v1_EnqueueBatchRequest__Output } from '../../rota/v1/EnqueueBatchRequest.js';
import type { EnqueueBatchResponse as _rota_v1_EnqueueBatchResponse, EnqueueBatchResponse__Output as _rota_v1_EnqueueBatchResponse__Output } from '../../rota/v1/EnqueueBatchResponse.js';
import type { EnqueueRequest as _rota_v1_EnqueueRequest, EnqueueRequest__Output as _rota_v1_EnqueueRequest__Output } from '../../rota/v1/EnqueueRequest.js';
import type { EnqueueResponse as _rota_v1_EnqueueResponse, EnqueueResponse__Output as _rota_v1_EnqueueResponse__Output } from '../../rota/v1/EnqueueResponse.js';
import type { EnqueueStreamRequest as _rota_v1_EnqueueStreamRequest, EnqueueStreamRequest__Output as _rota_v1_EnqueueStreamRequest__Output } from '../../rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse as _rota_v1_EnqueueStreamResponse, EnqueueStreamResponse__Output as _rota_v1_EnqueueStreamResponse__Output } from '../../rota/v1/EnqueueStreamResponse.js';
import type { GetJobRequest as _rota_v1_GetJobRequest, GetJobRequest__Output as _rota_v1_GetJobRequest__Output } from '../../rota/v1/GetJobRequest.js';
import type { Job as _rota_v1_Job, Job__Output as _rota_v1_Job__Output } from '../../rota/v1/Job.js';
import type { WorkerMessage as _rota_v1_WorkerMessage, WorkerMessage__Output as _rota_v1_WorkerMessage__Output } from '../../rota/v1/WorkerMessage.js';

/**
 * Broker is the producer and worker API.
 */
export interface BrokerClient extends grpc.Client {
  /**
   * CancelJob cancels a waiting, delayed or leased job. A leased job's worker
   * receives Cancel on its Work stream; its later Complete/Fail is refused.
   * Cancelling a job that already ended is not an error: the reply says so
   * (NOT_FOUND once its retention is over).
   */
  CancelJob(argument: _rota_v1_CancelJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  CancelJob(argument: _rota_v1_CancelJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  CancelJob(argument: _rota_v1_CancelJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  CancelJob(argument: _rota_v1_CancelJobRequest, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  /**
   * CancelJob cancels a waiting, delayed or leased job. A leased job's worker
   * receives Cancel on its Work stream; its later Complete/Fail is refused.
   * Cancelling a job that already ended is not an error: the reply says so
   * (NOT_FOUND once its retention is over).
   */
  cancelJob(argument: _rota_v1_CancelJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  cancelJob(argument: _rota_v1_CancelJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  cancelJob(argument: _rota_v1_CancelJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  cancelJob(argument: _rota_v1_CancelJobRequest, callback: grpc.requestCallback<_rota_v1_CancelJobResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Enqueue stores one job and answers once it is durably in Redis.
   * With an idempotency_key, a repeat within the key's retention returns the
   * first job's id with duplicate = true and stores nothing new.
   */
  Enqueue(argument: _rota_v1_EnqueueRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  Enqueue(argument: _rota_v1_EnqueueRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  Enqueue(argument: _rota_v1_EnqueueRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  Enqueue(argument: _rota_v1_EnqueueRequest, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Enqueue stores one job and answers once it is durably in Redis.
   * With an idempotency_key, a repeat within the key's retention returns the
   * first job's id with duplicate = true and stores nothing new.
   */
  enqueue(argument: _rota_v1_EnqueueRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  enqueue(argument: _rota_v1_EnqueueRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  enqueue(argument: _rota_v1_EnqueueRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  enqueue(argument: _rota_v1_EnqueueRequest, callback: grpc.requestCallback<_rota_v1_EnqueueResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * EnqueueBatch stores many jobs in one call. Each item succeeds or fails on
   * its own (an item naming a tenant outside the token's tenants gets
   * PERMISSION_DENIED); the call itself fails only when the whole request is
   * unusable (for example more items than the broker's batch limit). Items
   * with the same tenant and idempotency_key count in order, as separate
   * Enqueue calls would: the first is stored, the later ones are its
   * duplicates (when the first is refused for max_queued, the next one is tried).
   */
  EnqueueBatch(argument: _rota_v1_EnqueueBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  EnqueueBatch(argument: _rota_v1_EnqueueBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  EnqueueBatch(argument: _rota_v1_EnqueueBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  EnqueueBatch(argument: _rota_v1_EnqueueBatchRequest, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  /**
   * EnqueueBatch stores many jobs in one call. Each item succeeds or fails on
   * its own (an item naming a tenant outside the token's tenants gets
   * PERMISSION_DENIED); the call itself fails only when the whole request is
   * unusable (for example more items than the broker's batch limit). Items
   * with the same tenant and idempotency_key count in order, as separate
   * Enqueue calls would: the first is stored, the later ones are its
   * duplicates (when the first is refused for max_queued, the next one is tried).
   */
  enqueueBatch(argument: _rota_v1_EnqueueBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  enqueueBatch(argument: _rota_v1_EnqueueBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  enqueueBatch(argument: _rota_v1_EnqueueBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  enqueueBatch(argument: _rota_v1_EnqueueBatchRequest, callback: grpc.requestCallback<_rota_v1_EnqueueBatchResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * EnqueueStream is EnqueueBatch over one long-lived stream: a message per
   * batch (one job or many), answered by a message with the same request_id
   * and one result per job, in order, once those jobs are durably in Redis.
   * Answers may come out of order across requests. A gRPC message on an open
   * stream costs a fraction of a unary call, so producers that send single
   * jobs at a high rate should use this (the TypeScript Producer does).
   * A request with more jobs than the batch limit is answered like the
   * others, with INVALID_ARGUMENT in every item (the error reads "jobs has N
   * items; the limit is M (ROTA_MAX_BATCH_SIZE). Split the batch"); none of
   * its jobs is stored and the stream goes on. Every answer states the limit
   * (max_batch_size), so a client can size its batches to this broker's. Only
   * what cannot be answered by request ends the stream: with INVALID_ARGUMENT
   * bytes that do not decode, or a request so far over the limit that its
   * answer would pass 4 MiB (tens of thousands of jobs); with
   * RESOURCE_EXHAUSTED one past the messages or fields a request may hold
   * (100,000 and 1,000,000 by default). The broker first answers every
   * request it read before that one, and reads none after it. The status is
   * that one request's refusal, not the others': its trailers name it,
   * "rota-refused-request" with its place among the requests the client sent
   * on this stream (1 for the first) and "rota-refused-request-id" with its
   * request_id when the broker could read it (not for bytes left undecoded).
   * Fail that request alone; the requests sent after it were not read, none
   * of their jobs stored: send them again, in order, on a new stream. A
   * message over the broker's receive limit (16 MiB, or twice
   * ROTA_MAX_PAYLOAD_BYTES) is refused by gRPC before the broker sees it:
   * the stream ends at once with RESOURCE_EXHAUSTED "Received message larger
   * than max (N vs M)" and no trailer. gRPC reads in order and stops there,
   * so the refused request is the first unanswered one larger than M bytes
   * and those sent after it were not read; those sent before it without an
   * answer may have been stored (the call was cut before their answers went
   * out): retry them with the same idempotency keys. The broker
   * stops reading a stream with 64 requests unanswered until answers go out.
   * A broker that shuts down gracefully drains the stream: it reads no more
   * requests, answers every request it read, then ends the stream with
   * UNAVAILABLE and the trailer "rota-drained: unanswered-requests-not-read"
   * (OK instead when the client had half-closed it). That trailer promises the
   * requests left without an answer were not read, none of their jobs stored:
   * send them again, in order, on a new stream (another broker, when the
   * client knows several). Any other end leaves the fate of unanswered
   * requests unknown: retry them with the same idempotency keys.
   */
  EnqueueStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_EnqueueStreamRequest, _rota_v1_EnqueueStreamResponse__Output>;
  EnqueueStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_EnqueueStreamRequest, _rota_v1_EnqueueStreamResponse__Output>;
  /**
   * EnqueueStream is EnqueueBatch over one long-lived stream: a message per
   * batch (one job or many), answered by a message with the same request_id
   * and one result per job, in order, once those jobs are durably in Redis.
   * Answers may come out of order across requests. A gRPC message on an open
   * stream costs a fraction of a unary call, so producers that send single
   * jobs at a high rate should use this (the TypeScript Producer does).
   * A request with more jobs than the batch limit is answered like the
   * others, with INVALID_ARGUMENT in every item (the error reads "jobs has N
   * items; the limit is M (ROTA_MAX_BATCH_SIZE). Split the batch"); none of
   * its jobs is stored and the stream goes on. Every answer states the limit
   * (max_batch_size), so a client can size its batches to this broker's. Only
   * what cannot be answered by request ends the stream: with INVALID_ARGUMENT
   * bytes that do not decode, or a request so far over the limit that its
   * answer would pass 4 MiB (tens of thousands of jobs); with
   * RESOURCE_EXHAUSTED one past the messages or fields a request may hold
   * (100,000 and 1,000,000 by default). The broker first answers every
   * request it read before that one, and reads none after it. The status is
   * that one request's refusal, not the others': its trailers name it,
   * "rota-refused-request" with its place among the requests the client sent
   * on this stream (1 for the first) and "rota-refused-request-id" with its
   * request_id when the broker could read it (not for bytes left undecoded).
   * Fail that request alone; the requests sent after it were not read, none
   * of their jobs stored: send them again, in order, on a new stream. A
   * message over the broker's receive limit (16 MiB, or twice
   * ROTA_MAX_PAYLOAD_BYTES) is refused by gRPC before the broker sees it:
   * the stream ends at once with RESOURCE_EXHAUSTED "Received message larger
   * than max (N vs M)" and no trailer. gRPC reads in order and stops there,
   * so the refused request is the first unanswered one larger than M bytes
   * and those sent after it were not read; those sent before it without an
   * answer may have been stored (the call was cut before their answers went
   * out): retry them with the same idempotency keys. The broker
   * stops reading a stream with 64 requests unanswered until answers go out.
   * A broker that shuts down gracefully drains the stream: it reads no more
   * requests, answers every request it read, then ends the stream with
   * UNAVAILABLE and the trailer "rota-drained: unanswered-requests-not-read"
   * (OK instead when the client had half-closed it). That trailer promises the
   * requests left without an answer were not read, none of their jobs stored:
   * send them again, in order, on a new stream (another broker, when the
   * client knows several). Any other end leaves the fate of unanswered
   * requests unknown: retry them with the same idempotency keys.
   */
  enqueueStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_EnqueueStreamRequest, _rota_v1_EnqueueStreamResponse__Output>;
  enqueueStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_EnqueueStreamRequest, _rota_v1_EnqueueStreamResponse__Output>;
  
  /**
   * GetJob returns the job record (state, attempts, progress, result, error,
   * timestamps). NOT_FOUND when the job never existed or its retention expired
   * (completed and cancelled jobs: at once when the broker keeps none,
   * ROTA_COMPLETED_RETENTION_MS=0).
   */
  GetJob(argument: _rota_v1_GetJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _rota_v1_GetJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _rota_v1_GetJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _rota_v1_GetJobRequest, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  /**
   * GetJob returns the job record (state, attempts, progress, result, error,
   * timestamps). NOT_FOUND when the job never existed or its retention expired
   * (completed and cancelled jobs: at once when the broker keeps none,
   * ROTA_COMPLETED_RETENTION_MS=0).
   */
  getJob(argument: _rota_v1_GetJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _rota_v1_GetJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _rota_v1_GetJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _rota_v1_GetJobRequest, callback: grpc.requestCallback<_rota_v1_Job__Output>): grpc.ClientUnaryCall;
  
  /**
   * Work is a worker session. The first message must be Hello; the broker
   * answers Welcome and then sends leases while the session has capacity.
   * See WorkerMessage and BrokerMessage for the protocol.
   */
  Work(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_WorkerMessage, _rota_v1_BrokerMessage__Output>;
  Work(options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_WorkerMessage, _rota_v1_BrokerMessage__Output>;
  /**
   * Work is a worker session. The first message must be Hello; the broker
   * answers Welcome and then sends leases while the session has capacity.
   * See WorkerMessage and BrokerMessage for the protocol.
   */
  work(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_WorkerMessage, _rota_v1_BrokerMessage__Output>;
  work(options?: grpc.CallOptions): grpc.ClientDuplexStream<_rota_v1_WorkerMessage, _rota_v1_BrokerMessage__Output>;
  
}

/**
 * Broker is the producer and worker API.
 */
export interface BrokerHandlers extends grpc.UntypedServiceImplementation {
  /**
   * CancelJob cancels a waiting, delayed or leased job. A leased job's worker
   * receives Cancel on its Work stream; its later Complete/Fail is refused.
   * Cancelling a job that already ended is not an error: the reply says so
   * (NOT_FOUND once its retention is over).
   */
  CancelJob: grpc.handleUnaryCall<_rota_v1_CancelJobRequest__Output, _rota_v1_CancelJobResponse>;
  
  /**
   * Enqueue stores one job and answers once it is durably in Redis.
   * With an idempotency_key, a repeat within the key's retention returns the
   * first job's id with duplicate = true and stores nothing new.
   */
  Enqueue: grpc.handleUnaryCall<_rota_v1_EnqueueRequest__Output, _rota_v1_EnqueueResponse>;
  
  /**
   * EnqueueBatch stores many jobs in one call. Each item succeeds or fails on
   * its own (an item naming a tenant outside the token's tenants gets
   * PERMISSION_DENIED); the call itself fails only when the whole request is
   * unusable (for example more items than the broker's batch limit). Items
   * with the same tenant and idempotency_key count in order, as separate
   * Enqueue calls would: the first is stored, the later ones are its
   * duplicates (when the first is refused for max_queued, the next one is tried).
   */
  EnqueueBatch: grpc.handleUnaryCall<_rota_v1_EnqueueBatchRequest__Output, _rota_v1_EnqueueBatchResponse>;
  
  /**
   * EnqueueStream is EnqueueBatch over one long-lived stream: a message per
   * batch (one job or many), answered by a message with the same request_id
   * and one result per job, in order, once those jobs are durably in Redis.
   * Answers may come out of order across requests. A gRPC message on an open
   * stream costs a fraction of a unary call, so producers that send single
   * jobs at a high rate should use this (the TypeScript Producer does).
   * A request with more jobs than the batch limit is answered like the
   * others, with INVALID_ARGUMENT in every item (the error reads "jobs has N
   * items; the limit is M (ROTA_MAX_BATCH_SIZE). Split the batch"); none of
   * its jobs is stored and the stream goes on. Every answer states the limit
   * (max_batch_size), so a client can size its batches to this broker's. Only
   * what cannot be answered by request ends the stream: with INVALID_ARGUMENT
   * bytes that do not decode, or a request so far over the limit that its
   * answer would pass 4 MiB (tens of thousands of jobs); with
   * RESOURCE_EXHAUSTED one past the messages or fields a request may hold
   * (100,000 and 1,000,000 by default). The broker first answers every
   * request it read before that one, and reads none after it. The status is
   * that one request's refusal, not the others': its trailers name it,
   * "rota-refused-request" with its place among the requests the client sent
   * on this stream (1 for the first) and "rota-refused-request-id" with its
   * request_id when the broker could read it (not for bytes left undecoded).
   * Fail that request alone; the requests sent after it were not read, none
   * of their jobs stored: send them again, in order, on a new stream. A
   * message over the broker's receive limit (16 MiB, or twice
   * ROTA_MAX_PAYLOAD_BYTES) is refused by gRPC before the broker sees it:
   * the stream ends at once with RESOURCE_EXHAUSTED "Received message larger
   * than max (N vs M)" and no trailer. gRPC reads in order and stops there,
   * so the refused request is the first unanswered one larger than M bytes
   * and those sent after it were not read; those sent before it without an
   * answer may have been stored (the call was cut before their answers went
   * out): retry them with the same idempotency keys. The broker
   * stops reading a stream with 64 requests unanswered until answers go out.
   * A broker that shuts down gracefully drains the stream: it reads no more
   * requests, answers every request it read, then ends the stream with
   * UNAVAILABLE and the trailer "rota-drained: unanswered-requests-not-read"
   * (OK instead when the client had half-closed it). That trailer promises the
   * requests left without an answer were not read, none of their jobs stored:
   * send them again, in order, on a new stream (another broker, when the
   * client knows several). Any other end leaves the fate of unanswered
   * requests unknown: retry them with the same idempotency keys.
   */
  EnqueueStream: grpc.handleBidiStreamingCall<_rota_v1_EnqueueStreamRequest__Output, _rota_v1_EnqueueStreamResponse>;
  
  /**
   * GetJob returns the job record (state, attempts, progress, result, error,
   * timestamps). NOT_FOUND when the job never existed or its retention expired
   * (completed and cancelled jobs: at once when the broker keeps none,
   * ROTA_COMPLETED_RETENTION_MS=0).
   */
  GetJob: grpc.handleUnaryCall<_rota_v1_GetJobRequest__Output, _rota_v1_Job>;
  
  /**
   * Work is a worker session. The first message must be Hello; the broker
   * answers Welcome and then sends leases while the session has capacity.
   * See WorkerMessage and BrokerMessage for the protocol.
   */
  Work: grpc.handleBidiStreamingCall<_rota_v1_WorkerMessage__Output, _rota_v1_BrokerMessage>;
  
}

export interface BrokerDefinition extends grpc.ServiceDefinition {
  CancelJob: MethodDefinition<_rota_v1_CancelJobRequest, _rota_v1_CancelJobResponse, _rota_v1_CancelJobRequest__Output, _rota_v1_CancelJobResponse__Output>
  Enqueue: MethodDefinition<_rota_v1_EnqueueRequest, _rota_v1_EnqueueResponse, _rota_v1_EnqueueRequest__Output, _rota_v1_EnqueueResponse__Output>
  EnqueueBatch: MethodDefinition<_rota_v1_EnqueueBatchRequest, _rota_v1_EnqueueBatchResponse, _rota_v1_EnqueueBatchRequest__Output, _rota_v1_EnqueueBatchResponse__Output>
  EnqueueStream: MethodDefinition<_rota_v1_EnqueueStreamRequest, _rota_v1_EnqueueStreamResponse, _rota_v1_EnqueueStreamRequest__Output, _rota_v1_EnqueueStreamResponse__Output>
  GetJob: MethodDefinition<_rota_v1_GetJobRequest, _rota_v1_Job, _rota_v1_GetJobRequest__Output, _rota_v1_Job__Output>
  Work: MethodDefinition<_rota_v1_WorkerMessage, _rota_v1_BrokerMessage, _rota_v1_WorkerMessage__Output, _rota_v1_BrokerMessage__Output>
}
