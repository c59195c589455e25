import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import { BrokerError } from '../broker/errors.js';
import type { BrokerHandlers } from '../generated/rota/v1/Broker.js';
import type { AdminHandlers } from '../generated/rota/v1/Admin.js';
import {
  toEnqueueInput,
  toTenantUpdate,
  fromWireState,
  toWireJob,
  toWireState,
  toWireStats,
  toWireTenant,
} from './codec.js';
import {
  AuthError,
  mayActFor,
  requireShareUnset,
  requireTenant,
  toCallError,
  type Principal,
  type Role,
} from './auth.js';
import { Audit, rpcOf, type AuditedCall } from './audit.js';
import {
  DEAD_LETTERS_DELETED,
  DEAD_LETTERS_REPLAYED,
  JOB_CANCELLED,
  QUEUE_PURGED,
  TENANT_SET,
  type Change,
} from './audited-calls.js';
import type { TokenStore } from './tokens.js';
import { checkBatchSize, enqueueItems, enqueueStreamHandler } from './enqueue.js';
import type { StreamDrain } from './stream-drain.js';
import { UndecodableMessage } from './undecodable.js';
import { workHandler } from './work-stream.js';

/** What every handler of the edge shares: the log, the tokens, the audit trail. */
export interface Edge {
  readonly logger: Logger;
  /** Undefined = no auth: every caller is an unscoped admin. */
  readonly tokens: TokenStore | undefined;
  readonly audit: Audit;
}

export interface ServiceOptions {
  /** Most items in one EnqueueBatch (ROTA_MAX_BATCH_SIZE). */
  readonly maxBatchSize: number;
  /** Most worker sessions at once (ROTA_MAX_SESSIONS). */
  readonly maxSessions: number;
  /** A Work stream must say Hello within this long (the lease TTL). */
  readonly helloTimeoutMs: number;
  /** Largest job payload and result (ROTA_MAX_PAYLOAD_BYTES). */
  readonly maxPayloadBytes: number;
  /** Started by a graceful shutdown: the open EnqueueStreams end as drained. */
  readonly enqueueStreams: StreamDrain;
}

/** `refused` logs a refusal for the token that does not end the call (an item of a batch). */
type Handler<Req, Res> = (
  request: Req,
  principal: Principal,
  refused: (error: AuthError) => void,
) => Promise<Res>;
type UnaryCall<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/**
 * Adapts an async handler to grpc-js's callback style: authenticates the
 * caller, checks its role, and maps errors to status codes. The handler checks
 * the tenants the request names.
 */
function unary<Req, Res>(edge: Edge, role: Role, handler: Handler<Req, Res>): UnaryCall<Req, Res> {
  return audited(edge, role, undefined, handler);
}

/** A unary call that changes state: as `unary`, and once it ended, its audit line. */
function audited<Req, Res>(
  edge: Edge,
  role: Role,
  change: Change<Req, Res> | undefined,
  handler: Handler<Req, Res>,
): UnaryCall<Req, Res> {
  const { logger, tokens, audit } = edge;
  return (call, callback) => {
    let principal: Principal;
    try {
      principal = audit.admit(tokens, call, role);
    } catch (error) {
      callback(toCallError(error), null);
      return;
    }
    const rpc = rpcOf(call.getPath());
    const request: unknown = call.request;
    const undecodable = request instanceof UndecodableMessage;
    const changing: AuditedCall | undefined = change && {
      caller: principal,
      rpc,
      target: undecodable ? {} : change.target(call.request),
    };
    const answer = undecodable
      ? Promise.reject(request.toError())
      : handler(call.request, principal, (error) =>
          audit.refused({ rpc, peer: call.getPeer(), caller: principal }, error),
        );
    answer.then(
      (response) => {
        if (change && changing) audit.changed(changing, change.done, change.outcome(response));
        callback(null, response);
      },
      (error: unknown) => {
        if (error instanceof AuthError) {
          audit.refused({ rpc, peer: call.getPeer(), caller: principal }, error);
        } else {
          if (changing) audit.failed(changing, error);
          if (!(error instanceof BrokerError && error.code !== 'internal')) {
            logger.error({ err: error, path: call.getPath() }, 'request failed');
          }
        }
        callback(toCallError(error), null);
      },
    );
  };
}

export function brokerHandlers(
  broker: Broker,
  edge: Edge,
  options: ServiceOptions,
): BrokerHandlers {
  const { maxBatchSize, enqueueStreams } = options;
  return {
    Enqueue: unary(edge, 'producer', async (request, principal) => {
      requireTenant(principal, request.tenant);
      const [result] = await broker.enqueue([toEnqueueInput(request)]);
      if (result instanceof BrokerError) throw result;
      return { job_id: result!.jobId, duplicate: result!.duplicate };
    }),
    EnqueueBatch: unary(edge, 'producer', async (request, principal, refused) => {
      checkBatchSize(request.jobs.length, maxBatchSize);
      return { results: await enqueueItems(broker, principal, request.jobs, refused) };
    }),
    EnqueueStream: enqueueStreamHandler({ broker, ...edge, maxBatchSize, drain: enqueueStreams }),
    GetJob: unary(edge, 'producer', async (request, principal) => {
      requireTenant(principal, request.tenant);
      return toWireJob(await broker.getJob(request.tenant, request.job_id));
    }),
    CancelJob: audited(edge, 'producer', JOB_CANCELLED, async (request, principal) => {
      requireTenant(principal, request.tenant);
      const outcome = await broker.cancel(request.tenant, request.job_id);
      return { cancelled: outcome.cancelled, state: toWireState(outcome.state) };
    }),
    Work: workHandler({
      leases: broker.leases,
      ...edge,
      maxSessions: options.maxSessions,
      helloTimeoutMs: options.helloTimeoutMs,
      maxResultBytes: options.maxPayloadBytes,
      onWritable: (session) => broker.leases.pumpQueues(session),
    }),
  };
}

/**
 * Admin RPCs need an admin token; a scoped admin only sees and changes its
 * tenants, and of their settings only paused.
 */
export function adminHandlers(broker: Broker, edge: Edge): AdminHandlers {
  return {
    SetTenant: audited(edge, 'admin', TENANT_SET, async (request, principal) => {
      requireTenant(principal, request.tenant?.tenant ?? '');
      requireShareUnset(principal, request.tenant);
      return toWireTenant(await broker.tenants.set(toTenantUpdate(request.tenant)));
    }),
    GetTenant: unary(edge, 'admin', async (request, principal) => {
      requireTenant(principal, request.tenant);
      return toWireTenant(await broker.tenants.get(request.tenant));
    }),
    ListTenants: unary(edge, 'admin', async (_request, principal) => ({
      tenants: (await broker.tenants.list())
        .filter((view) => mayActFor(principal, view.tenant))
        .map(toWireTenant),
    })),
    GetStats: unary(edge, 'admin', async (request, principal) => {
      requireTenant(principal, request.tenant);
      const { rows, truncated } = await statsFor(broker, principal, request.queue, request.tenant);
      const now = Date.now();
      return {
        entries: rows.map((row) => toWireStats(row, now)),
        generated_at_unix_ms: now,
        truncated,
      };
    }),
    ListDeadLetters: unary(edge, 'admin', async (request, principal) => {
      requireTenant(principal, request.tenant);
      const page = await broker.listDeadLetters(
        request.tenant,
        request.queue,
        request.page_size,
        request.page_token,
      );
      return {
        jobs: page.jobs.map(toWireJob),
        next_page_token: page.nextPageToken,
        total: page.total,
      };
    }),
    ListJobs: unary(edge, 'admin', async (request, principal) => {
      requireTenant(principal, request.tenant);
      const page = await broker.listJobs(
        request.tenant,
        request.queue,
        fromWireState(request.state),
        request.page_size,
        request.page_token,
      );
      return { jobs: page.jobs.map(toWireJob), next_page_token: page.nextPageToken };
    }),
    ReplayDeadLetters: audited(edge, 'admin', DEAD_LETTERS_REPLAYED, async (request, principal) => {
      requireTenant(principal, request.tenant);
      const outcome = await broker.replayDeadLetters(
        request.tenant,
        request.queue,
        request.job_ids,
        request.all,
      );
      return { replayed: outcome.replayed, not_found: outcome.notFound };
    }),
    DeleteDeadLetters: audited(edge, 'admin', DEAD_LETTERS_DELETED, async (request, principal) => {
      requireTenant(principal, request.tenant);
      const outcome = await broker.deleteDeadLetters(
        request.tenant,
        request.queue,
        request.job_ids,
        request.all,
      );
      return { deleted: outcome.deleted, not_found: outcome.notFound };
    }),
    PurgeQueue: audited(edge, 'admin', QUEUE_PURGED, async (request, principal) => {
      requireTenant(principal, request.tenant);
      return broker.purgeQueue(request.tenant, request.queue);
    }),
  };
}

/** GetStats of every tenant, or for a scoped admin asking for all: of each of its tenants. */
async function statsFor(
  broker: Broker,
  principal: Principal,
  queue: string,
  tenant: string,
): ReturnType<Broker['getStats']> {
  if (tenant !== '' || principal.tenants === undefined) return broker.getStats(queue, tenant);
  const parts = await Promise.all([...principal.tenants].map((t) => broker.getStats(queue, t)));
  const rows = parts
    .flatMap((part) => part.rows)
    .sort((a, b) => a.queue.localeCompare(b.queue) || a.tenant.localeCompare(b.tenant));
  return { rows, truncated: parts.some((part) => part.truncated) };
}
