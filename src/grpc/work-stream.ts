import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BrokerError } from '../broker/errors.js';
import { UndecodableMessage } from './undecodable.js';
import { isName } from '../broker/validation.js';
import type { LeaseManager } from '../broker/lease-manager.js';
import {
  jobBytes,
  type Lease,
  type Session,
  type SessionMessage,
  type SessionTransport,
} from '../broker/session.js';
import type { BrokerMessage } from '../generated/rota/v1/BrokerMessage.js';
import type { Hello__Output } from '../generated/rota/v1/Hello.js';
import type { WorkerMessage__Output } from '../generated/rota/v1/WorkerMessage.js';
import type { AckStatus } from '../generated/rota/v1/AckStatus.js';
import { mayActFor, tenantDenied, toCallError, type AuthError } from './auth.js';
import { rpcOf, type Audit } from './audit.js';
import { toNumber, toWireLease } from './codec.js';
import type { Principal, TokenStore } from './tokens.js';

type WorkCall = ServerDuplexStream<WorkerMessage__Output, BrokerMessage>;

const ACK_STATUS: Readonly<Record<'stale' | 'unknown' | 'invalid', AckStatus>> = {
  stale: 'ACK_STALE',
  unknown: 'ACK_UNKNOWN_JOB',
  invalid: 'ACK_INVALID',
};

/**
 * Flow control. A LeaseBatch message carries leases of at most about
 * LEASE_MESSAGE_BYTES of payload and headers (at least one lease), so a burst
 * of large jobs never exceeds the gRPC message limit. The stream's backlog is
 * what was handed to grpc-js and not yet taken by HTTP/2, which stops taking
 * once the worker stops reading (flow-control window full). Past
 * BACKLOG_HIGH_WATER_BYTES the session gets no new leases; when the backlog
 * falls below it again, its queues are pumped. A worker that stops reading
 * thus holds what was granted before its backlog crossed the mark (about
 * BACKLOG_HIGH_WATER_BYTES plus one job: a dispatch round stops at the bytes
 * the stream still takes) and the HTTP/2 windows, not its whole capacity.
 */
export const LEASE_MESSAGE_BYTES = 1024 * 1024;
export const BACKLOG_HIGH_WATER_BYTES = 4 * 1024 * 1024;
/**
 * The other messages, the replies (heartbeat acks, ack results, cancels), are
 * sent whatever the backlog, one per message the worker sends: a worker that
 * sends and never reads would make the broker queue them without end. Past
 * this many bytes of replies unread, its stream ends with RESOURCE_EXHAUSTED.
 * Leases do not count: the high-water mark already bounds them, and one job
 * may be as large as ROTA_MAX_PAYLOAD_BYTES (up to 512 MiB). Counted with
 * the replies, a lease of 12 MiB or more ended a worker's stream though it
 * read normally, and so did each retry of that job until it went dead. A
 * grpc-js worker never gets here: it reads everything as it arrives.
 */
export const MAX_UNREAD_REPLY_BYTES = 4 * BACKLOG_HIGH_WATER_BYTES;
/** Framing and fixed fields of one message or lease, roughly. */
const MESSAGE_OVERHEAD_BYTES = 128;

function leaseBytes(lease: Lease): number {
  return MESSAGE_OVERHEAD_BYTES + jobBytes(lease.job);
}

/** Splits leases into LeaseBatch-sized groups, in order. */
function leaseGroups(leases: readonly Lease[]): Array<{ leases: Lease[]; bytes: number }> {
  const groups: Array<{ leases: Lease[]; bytes: number }> = [];
  let current: { leases: Lease[]; bytes: number } | undefined;
  for (const lease of leases) {
    const bytes = leaseBytes(lease);
    if (current === undefined || current.bytes + bytes > LEASE_MESSAGE_BYTES) {
      current = { leases: [], bytes: 0 };
      groups.push(current);
    }
    current.leases.push(lease);
    current.bytes += bytes;
  }
  return groups;
}

function encode(
  message: Exclude<SessionMessage, { kind: 'leases' }>,
  maxResultBytes: number,
): BrokerMessage {
  switch (message.kind) {
    case 'welcome':
      return {
        welcome: {
          session_id: message.sessionId,
          heartbeat_interval_ms: message.heartbeatIntervalMs,
          lease_ttl_ms: message.leaseTtlMs,
          protocol_version: 1,
          reattached_job_ids: [...message.reattached],
          refused_job_ids: [...message.refused],
          max_result_bytes: maxResultBytes,
        },
      };
    case 'cancel':
      return { cancel: { job_id: message.jobId, reason: message.reason } };
    case 'drain':
      return { drain: { grace_ms: message.graceMs } };
    case 'heartbeatAck':
      return { heartbeat_ack: { server_time_unix_ms: message.now } };
    case 'ackResult':
      return {
        ack_result: {
          outcomes: message.outcomes.map((o) => ({
            job_id: o.jobId,
            status: ACK_STATUS[o.status],
            message: o.message,
          })),
        },
      };
  }
}

export interface WorkStreamOptions {
  readonly leases: LeaseManager;
  readonly logger: Logger;
  /** Undefined = no auth. */
  readonly tokens: TokenStore | undefined;
  readonly audit: Audit;
  /** Most sessions at once (ROTA_MAX_SESSIONS). */
  readonly maxSessions: number;
  /** A stream without Hello this long after it opened is ended. */
  readonly helloTimeoutMs: number;
  /** Largest result a Complete may carry (ROTA_MAX_PAYLOAD_BYTES), told in Welcome. */
  readonly maxResultBytes: number;
  /** The session's stream drained below the high-water mark: offer it leases again. */
  onWritable(session: Session): void;
}

/**
 * The tenants a session may receive: Hello.tenants, all within the token's
 * scope (else a PERMISSION_DENIED AuthError naming the first outside it); none
 * = the scope.
 * Leases to re-attach must be of the scope too. Malformed ids are left to
 * Hello validation (INVALID_ARGUMENT).
 */
function sessionTenants(principal: Principal, hello: Hello__Output): readonly string[] {
  const named = [...hello.tenants, ...hello.in_flight.map((ref) => ref.tenant)];
  const outside = named.find((tenant) => isName(tenant) && !mayActFor(principal, tenant));
  if (outside !== undefined) throw tenantDenied(principal, outside);
  return hello.tenants.length === 0 && principal.tenants ? [...principal.tenants] : hello.tenants;
}

/**
 * The Work stream: decodes worker messages into LeaseManager calls and encodes
 * what the session sends. The token is checked when the stream opens, its
 * tenant scope at Hello (and, by the LeaseManager, on each ack and Progress).
 * Until Hello is answered, later messages wait their turn so a Heartbeat or
 * ack right behind Hello is not lost, and a half-close waits for them.
 */
export function workHandler(options: WorkStreamOptions): (call: WorkCall) => void {
  const { leases, logger } = options;
  /** Hellos being answered (their sessions are not counted by the LeaseManager yet). */
  let opening = 0;
  return (call) => {
    let principal: Principal;
    try {
      principal = options.audit.admit(options.tokens, call, 'worker');
    } catch (error) {
      call.emit('error', toCallError(error));
      return;
    }

    let session: Session | undefined;
    let queue: Promise<void> | undefined;
    let ended = false;
    let backlog = 0;
    let notifyWritable = false;

    /** Bytes of replies (not leases) handed to grpc-js and not yet taken by HTTP/2. */
    let unreadReplies = 0;
    let overflowed = false;
    const write = (message: BrokerMessage, bytes: number, kind: 'lease' | 'reply'): void => {
      if (overflowed) return;
      const replyBytes = kind === 'reply' ? bytes : 0;
      if (unreadReplies + replyBytes > MAX_UNREAD_REPLY_BYTES) {
        overflowed = true;
        const error = new BrokerError(
          'resource_exhausted',
          `the worker left ${unreadReplies + replyBytes} bytes of replies on this stream unread (the limit is ${MAX_UNREAD_REPLY_BYTES}): read what the broker sends`,
        );
        // On the next turn: a write may come from inside the lease manager's own work.
        setImmediate(() => fail(error));
        return;
      }
      backlog += bytes;
      unreadReplies += replyBytes;
      call.write(message, () => {
        const wasFull = backlog >= BACKLOG_HIGH_WATER_BYTES;
        backlog -= bytes;
        unreadReplies -= replyBytes;
        if (
          (wasFull || notifyWritable) &&
          backlog < BACKLOG_HIGH_WATER_BYTES &&
          session &&
          !ended
        ) {
          notifyWritable = false;
          options.onWritable(session);
        }
      });
    };

    const helloTimer = setTimeout(() => {
      if (session) return;
      transport.close(
        new BrokerError(
          'failed_precondition',
          `no Hello within ${options.helloTimeoutMs} ms of opening the Work stream; send Hello first`,
        ),
      );
    }, options.helloTimeoutMs);
    helloTimer.unref();

    const transport: SessionTransport = {
      send(message) {
        if (ended) return;
        if (message.kind !== 'leases') {
          write(encode(message, options.maxResultBytes), MESSAGE_OVERHEAD_BYTES, 'reply');
          return;
        }
        for (const group of leaseGroups(message.leases)) {
          write(
            { leases: { leases: group.leases.map((lease) => toWireLease(lease, message.now)) } },
            group.bytes,
            'lease',
          );
        }
      },
      close(error) {
        if (ended) return;
        ended = true;
        clearTimeout(helloTimer);
        if (error) call.emit('error', toCallError(error));
        else call.end();
      },
      writableBytes: () => Math.max(0, BACKLOG_HIGH_WATER_BYTES - backlog),
      notifyWhenWritable: () => {
        notifyWritable = true;
      },
    };

    const fail = (error: unknown): void => {
      if (session) leases.close(session, error as Error);
      else transport.close(error as Error);
    };

    const open = async (hello: Hello__Output): Promise<Session> => {
      let tenants: readonly string[];
      try {
        tenants = sessionTenants(principal, hello);
      } catch (error) {
        const refused = { rpc: rpcOf(call.getPath()), peer: call.getPeer(), caller: principal };
        options.audit.refused(refused, error as AuthError);
        throw error;
      }
      if (leases.sessionCount + opening >= options.maxSessions) {
        throw new BrokerError(
          'resource_exhausted',
          `this broker already has ${options.maxSessions} worker sessions, its limit (ROTA_MAX_SESSIONS); retry later or connect to another broker`,
        );
      }
      opening++;
      try {
        return await leases.open(
          {
            workerId: hello.worker_id,
            queues: hello.queues,
            capacity: hello.capacity,
            tenants,
            inFlight: hello.in_flight.map((ref) => ({
              jobId: ref.job_id,
              token: ref.lease_token,
              tenant: ref.tenant,
            })),
            protocolVersion: hello.protocol_version || 1,
          },
          transport,
          principal,
        );
      } finally {
        opening--;
      }
    };

    const handle = async (message: WorkerMessage__Output): Promise<void> => {
      if (ended) return;
      if (!session) {
        if (message.msg !== 'hello' || !message.hello) {
          throw new BrokerError(
            'invalid_argument',
            'the first message on a Work stream must be Hello',
          );
        }
        clearTimeout(helloTimer);
        session = await open(message.hello);
        if (ended) leases.close(session);
        return;
      }
      switch (message.msg) {
        case 'hello':
          throw new BrokerError('failed_precondition', 'Hello was already sent on this stream');
        case 'heartbeat':
          return leases.heartbeat(session);
        case 'credit':
          return leases.credit(session, message.credit?.capacity ?? 0);
        case 'drain':
          return leases.drain(session);
        case 'progress': {
          const p = message.progress!;
          return leases.progress(session, p.job_id, p.lease_token, p.data, p.content_type);
        }
        case 'complete':
        case 'fail':
        case 'acks': {
          const completes = message.complete ? [message.complete] : (message.acks?.completed ?? []);
          const fails = message.fail ? [message.fail] : (message.acks?.failed ?? []);
          return leases.acknowledge(
            session,
            completes.map((c) => ({
              jobId: c.job_id,
              token: c.lease_token,
              result: c.result,
              resultContentType: c.result_content_type,
            })),
            fails.map((f) => ({
              jobId: f.job_id,
              token: f.lease_token,
              message: f.message,
              retryable: f.retryable,
              retryAfterMs: toNumber(f.retry_after_ms),
            })),
          );
        }
        default:
          throw new BrokerError('invalid_argument', 'empty WorkerMessage: set one of its fields');
      }
    };

    call.on('data', (message: WorkerMessage__Output | UndecodableMessage) => {
      const run = (): Promise<void> =>
        (message instanceof UndecodableMessage
          ? Promise.reject(message.toError())
          : handle(message)
        ).catch((error: unknown) => {
          const clientFault =
            error instanceof BrokerError &&
            error.code !== 'unavailable' &&
            error.code !== 'internal';
          if (clientFault || !session) fail(error);
          else logger.error({ err: error, sessionId: session.id }, 'work stream message failed');
        });
      if (session) void run();
      else queue = (queue ?? Promise.resolve()).then(run);
    });
    call.on('end', () => {
      // After the messages waiting behind Hello: ending at once dropped an
      // ack sent right behind it (a worker re-attaching only to report
      // what finished while it was away) and still answered OK.
      void (queue ?? Promise.resolve()).then(() => {
        if (session) leases.close(session);
        else transport.close();
      });
    });
    call.on('error', () => {
      ended = true;
      clearTimeout(helloTimer);
      if (session) leases.close(session);
    });
    call.on('cancelled', () => {
      ended = true;
      clearTimeout(helloTimer);
      if (session) leases.close(session);
    });
  };
}
