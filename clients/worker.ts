/**
 * Worker: holds one Work stream to the broker and runs a handler per lease.
 *
 * Session protocol (rota.proto, "Work stream"): Hello → Welcome → leases;
 * a Heartbeat every Welcome.heartbeat_interval_ms; outcomes go back batched,
 * in `acks` messages of bounded size each tick (acks.ts), never one the broker
 * would refuse. Cancel (cancelled, timed out, lease lost) aborts the job's
 * signal and its outcome is never sent: the broker already revoked the lease
 * and would refuse it.
 *
 * Reconnects: when the stream fails the worker reconnects with backoff (during
 * close() too, while it holds leases and the grace lasts); Hello.in_flight
 * lists every lease it still holds, running or finished-but-unacked, so the
 * new session re-attaches them and accepts their acks; Welcome.refused_job_ids
 * are aborted and their acks dropped. An ack written to a stream that then
 * dies may be lost: the lease then expires and the job runs again
 * (at-least-once), which costs less than keeping every result until the
 * broker confirms it.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { context, trace } from '@opentelemetry/api';

import * as grpc from '@grpc/grpc-js';

import type { BrokerMessage__Output } from '../src/generated/rota/v1/BrokerMessage.js';
import type { Lease__Output } from '../src/generated/rota/v1/Lease.js';
import type { Welcome__Output } from '../src/generated/rota/v1/Welcome.js';
import type { WorkerMessage } from '../src/generated/rota/v1/WorkerMessage.js';
import {
  ackGroups,
  completeProblem,
  failMessage,
  type Ack,
  type CompleteAck,
  type FailAck,
} from './acks.js';
import { decodePayload, encodeReported } from './codec.js';
import { connect, type Connection } from './connection.js';
import {
  AckRefusedError,
  JobAbortedError,
  NonRetryableError,
  RotaError,
  errorMessage,
  toRotaError,
  type RotaErrorOptions,
} from './errors.js';
import { reconnectDelayMs } from './reconnect.js';
import { MAX_PROGRESS_BYTES } from '../src/broker/validation.js';
import { JobContext } from './job-context.js';
import { LazyAbort } from './lazy-abort.js';
import {
  SpanKind,
  contextFromHeaders,
  endSpan,
  messagingAttributes,
  startSpan,
} from '../src/telemetry/tracing.js';
import {
  compileWorkerOptions,
  type CompiledWorkerOptions,
  type WorkerJob,
  type WorkerOptions,
} from './worker-options.js';

export type { Handler, HandlerContext, WorkerJob, WorkerOptions } from './worker-options.js';

/**
 * Lifecycle, only ever moving forwards:
 * - `IDLE`: constructed, start() not called.
 * - `RUNNING`: connected or reconnecting; taking leases.
 * - `DRAINING`: close() called; finishing and reporting the jobs it holds,
 *   reconnecting only for those and only until shutdownGraceMs is over.
 * - `STOPPED`: stream and channel closed.
 */
export type WorkerState = 'IDLE' | 'RUNNING' | 'DRAINING' | 'STOPPED';

export interface WorkerEvents {
  /** Stream failures, refused acks, handler-side encoding problems. Only emitted when someone listens. */
  error: [error: Error];
  /** The handler resolved; its result will be reported. */
  completed: [job: WorkerJob, result: unknown];
  /**
   * The handler threw; or its result cannot be reported (not JSON, or larger
   * than the broker takes: a NonRetryableError, and the job is failed for
   * good); or the job was aborted (the error is then a JobAbortedError).
   */
  failed: [job: WorkerJob, error: unknown];
  connected: [info: { sessionId: string; reattachedJobIds: string[]; refusedJobIds: string[] }];
  disconnected: [error: RotaError | undefined];
  /** The broker is shutting down and accepts acks for this long; the worker reconnects after. */
  draining: [graceMs: number];
}

/** Stream ends that no retry will fix while the worker's configuration stays the same. */
const FATAL_CODES: ReadonlySet<number> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNIMPLEMENTED,
]);

/** How long close() waits for the broker to end the stream after the half-close. */
const END_GRACE_MS = 2000;

interface Session {
  readonly call: grpc.ClientDuplexStream<WorkerMessage, BrokerMessage__Output>;
  welcome: Welcome__Output | undefined;
  heartbeat: NodeJS.Timeout | undefined;
  /** performance.now() of the broker's latest message (or of the session's start). */
  heardAt: number;
  ended: boolean;
  error: RotaError | undefined;
  readonly closed: Promise<void>;
  markClosed(): void;
}

/** A lease this worker holds: its handler runs, or its ack waits to be sent. */
interface HeldLease {
  readonly job: WorkerJob;
  readonly token: string;
  /** Aborts the handler's ctx.signal when the lease is lost, cancelled or timed out. */
  readonly abort: LazyAbort;
  phase: 'running' | 'acking' | 'dropped';
  ack: Ack | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
}

interface PendingProgress {
  readonly token: string;
  data: Buffer;
  contentType: string;
  readonly waiters: Array<() => void>;
}

export class Worker extends EventEmitter<WorkerEvents> {
  readonly #options: CompiledWorkerOptions;
  #connection: Connection;
  /** Makes a channel: a new one replaces a channel whose connection went silent. */
  readonly #connect: () => Connection;
  #state: WorkerState = 'IDLE';
  #session: Session | undefined;
  #reconnectAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** Leases held, by job id. */
  readonly #held = new Map<string, HeldLease>();
  /** Job ids of held leases whose ack waits for the next flush. */
  readonly #ackQueue = new Set<string>();
  readonly #progress = new Map<string, PendingProgress>();
  #flushScheduled: NodeJS.Immediate | undefined;
  /** Handlers whose outcome will be reported, for close(). Dropped ones are not waited for. */
  readonly #handlers = new Map<HeldLease, Promise<void>>();
  #started: { promise: Promise<void>; resolve(): void; reject(err: Error): void } | undefined;
  #everWelcomed = false;
  /** Welcome.max_result_bytes of the latest session (0 = not said). */
  #maxResultBytes = 0;
  #closing: Promise<void> | undefined;
  /** While closing: reconnects go on until then (for the leases still held). */
  #graceEnd = 0;
  /** Wakes close() when a handler ended, acks went out or a lease was dropped. */
  #wakeClose: (() => void) | undefined;

  constructor(options: WorkerOptions) {
    super();
    this.#options = compileWorkerOptions(options);
    // Let the channel itself retry at our pace too: grpc-js would otherwise wait
    // 1 s, 1.6 s, 2.6 s… between TCP attempts, longer than a short lease TTL.
    this.#connect = () =>
      connect({
        ...options,
        channelOptions: {
          'grpc.initial_reconnect_backoff_ms': Math.max(10, this.#options.reconnectInitialMs),
          'grpc.max_reconnect_backoff_ms': Math.max(10, this.#options.reconnectMaxMs),
          ...options.channelOptions,
        },
      });
    this.#connection = this.#connect();
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** Jobs whose handler is running now. */
  get running(): number {
    let n = 0;
    for (const held of this.#held.values()) if (held.phase === 'running') n++;
    return n;
  }

  /**
   * Connects; resolves on the first Welcome. Until then transient failures are
   * retried; a refusal no retry fixes (bad Hello, protocol version, auth)
   * rejects and stops the worker. After the first Welcome it reconnects forever.
   */
  start(): Promise<void> {
    if (this.#started !== undefined) return this.#started.promise;
    if (this.#state !== 'IDLE')
      return Promise.reject(new RotaError(grpc.status.FAILED_PRECONDITION, 'the Worker is closed'));
    let resolve: () => void = () => undefined;
    let reject: (err: Error) => void = () => undefined;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#started = { promise, resolve, reject };
    this.#state = 'RUNNING';
    this.#listenForSignals();
    this.#openSession();
    return promise;
  }

  /**
   * Graceful stop: sends Drain, waits up to shutdownGraceMs for running
   * handlers and for their acks to be sent (reconnecting meanwhile if the
   * broker is away), half-closes the stream, then aborts handlers still
   * running (their leases expire on the broker).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  readonly #onSignal = (): void => void this.close();

  /** Graceful close on SIGINT/SIGTERM (or the configured signals), like the broker. */
  #listenForSignals(): void {
    for (const signal of this.#options.shutdownSignals) process.on(signal, this.#onSignal);
  }

  #stopListeningForSignals(): void {
    for (const signal of this.#options.shutdownSignals) process.off(signal, this.#onSignal);
  }

  async #close(): Promise<void> {
    this.#stopListeningForSignals();
    const wasIdle = this.#state === 'IDLE';
    this.#state = 'DRAINING';
    this.#graceEnd = Date.now() + this.#options.shutdownGraceMs;
    if (this.#started !== undefined && !this.#everWelcomed) {
      this.#started.reject(
        new RotaError(grpc.status.CANCELLED, 'the Worker was closed before it connected'),
      );
    }
    if (!wasIdle) {
      if (this.#session !== undefined) this.#send(this.#session, { drain: {} });
      // Leases may still arrive until the broker has read Drain: wait for those
      // too. Acks wait for a session: a reconnect (see #mayReconnect) brings one.
      while ((this.#handlers.size > 0 || this.#ackQueue.size > 0) && Date.now() < this.#graceEnd) {
        const woken = new Promise<void>((resolve) => (this.#wakeClose = resolve));
        await waitAtMost(woken, this.#graceEnd - Date.now());
      }
      this.#graceEnd = 0;
      clearTimeout(this.#reconnectTimer);
      this.#flush();
      const session = this.#session;
      if (session !== undefined && !session.ended) {
        // Not welcomed yet: it cannot take the acks anyway.
        if (session.welcome !== undefined) {
          session.call.end();
          await waitAtMost(session.closed, END_GRACE_MS);
        }
        if (!session.ended) session.call.cancel();
      }
      for (const held of [...this.#held.values()]) this.#drop(held, 'shutdown');
    }
    this.#state = 'STOPPED';
    this.#connection.client.close();
  }

  // ---- session ------------------------------------------------------------

  #openSession(): void {
    const call = this.#connection.client.Work(this.#connection.metadata());
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const session: Session = {
      call,
      welcome: undefined,
      heartbeat: undefined,
      heardAt: performance.now(),
      ended: false,
      error: undefined,
      closed,
      markClosed,
    };
    this.#session = session;
    call.on('data', (msg: BrokerMessage__Output) => this.#onMessage(session, msg));
    call.on('error', (err: unknown) => (session.error ??= toRotaError(err)));
    // Leases and Cancels read before the status must be handled first: end the
    // session once the readable side has ended too (data always comes first).
    call.on('status', () => {
      if (call.readableEnded) this.#onSessionEnd(session);
      else setTimeout(() => this.#onSessionEnd(session), 1000).unref();
    });
    call.on('end', () => this.#onSessionEnd(session));
    this.#send(session, {
      hello: {
        worker_id: this.#options.workerId,
        queues: [...this.#options.queues],
        tenants: [...this.#options.tenants],
        capacity: this.#options.concurrency,
        protocol_version: 1,
        in_flight: [...this.#held.values()].map((held) => ({
          job_id: held.job.id,
          lease_token: held.token,
          tenant: held.job.tenant,
        })),
      },
    });
    // A reconnect while closing is only for the leases held: no new ones.
    if (this.#state === 'DRAINING') this.#send(session, { drain: {} });
  }

  #onMessage(session: Session, msg: BrokerMessage__Output): void {
    if (session !== this.#session) return;
    session.heardAt = performance.now();
    switch (msg.msg) {
      case 'welcome':
        if (msg.welcome) this.#onWelcome(session, msg.welcome);
        break;
      case 'leases':
        for (const lease of msg.leases?.leases ?? []) this.#onLease(lease);
        break;
      case 'cancel':
        if (msg.cancel) this.#abort(msg.cancel.job_id, msg.cancel.reason || 'cancelled');
        break;
      case 'ack_result':
        for (const outcome of msg.ack_result?.outcomes ?? []) {
          if (outcome.status !== 'ACK_OK') {
            this.#emitError(new AckRefusedError(outcome.job_id, outcome.status, outcome.message));
          }
        }
        break;
      case 'drain':
        // The broker is shutting down: running jobs finish and are acked as usual;
        // when the stream ends we reconnect and re-attach whatever still runs.
        this.emit('draining', msg.drain?.grace_ms ?? 0);
        break;
      case 'heartbeat_ack':
      case undefined:
        break;
    }
  }

  #onWelcome(session: Session, welcome: Welcome__Output): void {
    session.welcome = welcome;
    this.#maxResultBytes = welcome.max_result_bytes;
    this.#reconnectAttempt = 0;
    const interval =
      welcome.heartbeat_interval_ms ||
      (welcome.lease_ttl_ms > 0 ? Math.max(100, Math.floor(welcome.lease_ttl_ms / 3)) : 5000);
    // The broker answers every Heartbeat, and closes a session it has not heard
    // from for a lease TTL. A broker silent longer than that is gone without a
    // reset (power loss, a network partition): TCP would take many minutes to
    // say so, while the worker idled on a session the broker dropped long ago.
    const silenceLimitMs = welcome.lease_ttl_ms > 0 ? welcome.lease_ttl_ms + interval : 0;
    session.heartbeat = setInterval(() => {
      if (silenceLimitMs > 0 && performance.now() - session.heardAt > silenceLimitMs) {
        // After the poll phase: replies a busy event loop has not read yet count.
        setImmediate(() => this.#leaveIfSilent(session, silenceLimitMs));
      }
      this.#send(session, { heartbeat: {} });
    }, interval);
    session.heartbeat.unref();
    for (const jobId of welcome.refused_job_ids) {
      const held = this.#held.get(jobId);
      if (held === undefined) continue;
      if (held.phase === 'acking') {
        this.#emitError(
          new AckRefusedError(jobId, 'ACK_STALE', 'lease no longer current after reconnect'),
        );
      }
      this.#abort(jobId, 'lease lost');
    }
    this.#everWelcomed = true;
    this.emit('connected', {
      sessionId: welcome.session_id,
      reattachedJobIds: welcome.reattached_job_ids,
      refusedJobIds: welcome.refused_job_ids,
    });
    this.#started?.resolve();
    this.#scheduleFlush();
  }

  #onSessionEnd(session: Session): void {
    if (session.ended) return;
    session.ended = true;
    clearInterval(session.heartbeat);
    session.markClosed();
    if (session !== this.#session) return;
    this.#session = undefined;
    // Progress is best effort: its callers do not wait for a reconnect (which
    // may never come, or find the lease gone), as those of progress reported
    // while disconnected do not. The latest values stay queued for the next session.
    for (const pending of this.#progress.values()) {
      for (const resolve of pending.waiters.splice(0)) resolve();
    }
    if (session.welcome !== undefined) this.emit('disconnected', session.error);
    if (!this.#mayReconnect()) return;
    const error =
      session.error ?? new RotaError(grpc.status.UNAVAILABLE, 'the broker ended the Work stream');
    if (!this.#everWelcomed && FATAL_CODES.has(error.code)) {
      this.#started?.reject(error);
      void this.close();
      return;
    }
    this.#emitError(error);
    const delay = reconnectDelayMs(
      this.#reconnectAttempt++,
      this.#options.reconnectInitialMs,
      this.#options.reconnectMaxMs,
    );
    this.#reconnectTimer = setTimeout(() => {
      if (this.#mayReconnect()) this.#openSession();
    }, delay);
  }

  #leaveIfSilent(session: Session, silenceLimitMs: number): void {
    if (session.ended || performance.now() - session.heardAt <= silenceLimitMs) return;
    session.error = new RotaError(
      grpc.status.UNAVAILABLE,
      `the broker sent nothing for ${silenceLimitMs} ms (lease TTL and a heartbeat interval); reconnecting`,
    );
    session.call.cancel();
    // The next Work call would go out on the same silent connection: closing
    // the channel lets its connection go, and a new channel connects afresh.
    this.#connection.client.close();
    this.#connection = this.#connect();
    this.#onSessionEnd(session);
  }

  /** Always while running; while closing, for the leases still held until the grace is over. */
  #mayReconnect(): boolean {
    if (this.#state === 'RUNNING') return true;
    return this.#state === 'DRAINING' && this.#held.size > 0 && Date.now() < this.#graceEnd;
  }

  #send(session: Session, msg: WorkerMessage): boolean {
    if (session.ended) return false;
    try {
      session.call.write(msg);
      return true;
    } catch (err) {
      this.#emitError(toRotaError(err));
      return false;
    }
  }

  // ---- jobs ---------------------------------------------------------------

  #onLease(lease: Lease__Output): void {
    const previous = this.#held.get(lease.job_id);
    if (previous?.token === lease.lease_token) return;
    if (previous !== undefined) this.#drop(previous, 'lease lost');
    // On this process's clock: a broker's clock may differ from ours by more
    // than the timeout (deadline_unix_ms is the broker's; brokers before
    // timeout_left_ms sent only that).
    const deadline =
      lease.timeout_left_ms > 0
        ? Date.now() + lease.timeout_left_ms
        : Number(lease.deadline_unix_ms);
    // A copy: the decoded payload is a view into the whole lease message, which
    // a long-running handler would keep alive with every other job's payload.
    const rawPayload = Buffer.from(lease.payload);
    const job: WorkerJob = {
      id: lease.job_id,
      tenant: lease.tenant,
      queue: lease.queue,
      payload: undefined,
      rawPayload,
      attempt: lease.attempt,
      maxAttempts: lease.max_attempts,
      headers: lease.headers,
      createdAt: Number(lease.created_at_unix_ms),
      ...(deadline > 0 ? { deadline } : {}),
    };
    let decodeError: unknown;
    try {
      job.payload = decodePayload(rawPayload, lease.headers);
    } catch (err) {
      decodeError = err;
    }
    const held: HeldLease = {
      job,
      token: lease.lease_token,
      abort: new LazyAbort(),
      phase: 'running',
      ack: undefined,
      deadlineTimer: undefined,
    };
    this.#held.set(job.id, held);
    if (deadline > 0) {
      // The broker sends Cancel at the deadline; this covers a broker we cannot hear.
      held.deadlineTimer = setTimeout(
        () => this.#abort(job.id, 'timeout'),
        Math.max(0, deadline - Date.now()),
      );
      held.deadlineTimer.unref();
    }
    this.#handlers.set(
      held,
      this.#run(held, decodeError).finally(() => {
        this.#handlers.delete(held);
        this.#wakeClose?.();
      }),
    );
  }

  async #run(held: HeldLease, decodeError: unknown): Promise<void> {
    const { job, abort } = held;
    const ctx = new JobContext(abort, job.attempt, (value) => this.#reportProgress(held, value));
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    // One CONSUMER span per attempt, a child of the producer's span.
    const parent = contextFromHeaders(job.headers);
    const span = startSpan(
      `process ${job.queue}`,
      SpanKind.CONSUMER,
      messagingAttributes('process', job),
      parent,
    );
    try {
      if (decodeError !== undefined) {
        throw new NonRetryableError(`payload is not valid JSON: ${errorMessage(decodeError)}`, {
          cause: decodeError,
        });
      }
      const value: unknown = await context.with(trace.setSpan(parent, span), () =>
        this.#options.handler(job, ctx),
      );
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    }
    clearTimeout(held.deadlineTimer);
    if (held.phase !== 'running') {
      endSpan(span, abort.reason ?? 'lease lost');
    } else {
      endSpan(span, outcome.ok ? undefined : outcome.error);
    }
    if (held.phase !== 'running') {
      this.emit('failed', job, abort.reason ?? new JobAbortedError(job.id, 'lease lost'));
      return;
    }
    const reported = outcome.ok ? this.#completion(held, outcome.value) : outcome;
    let ack: Ack;
    if (reported.ok) {
      ack = { complete: reported.complete };
      this.emit('completed', job, reported.value);
    } else {
      ack = { fail: failMessage(job.id, held.token, reported.error) };
      this.emit('failed', job, reported.error);
    }
    // A listener may have closed the worker and dropped the lease meanwhile.
    if (held.phase !== 'running') return;
    held.phase = 'acking';
    held.ack = ack;
    this.#ackQueue.add(job.id);
    this.#scheduleFlush();
  }

  /** The Complete reporting a handler's value, or the error to fail the job with when none can. */
  #completion(
    held: HeldLease,
    value: unknown,
  ): { ok: true; value: unknown; complete: CompleteAck } | { ok: false; error: unknown } {
    let result: ReturnType<typeof encodeReported>;
    try {
      result = encodeReported(value);
    } catch (err) {
      return {
        ok: false,
        error: new NonRetryableError(`result: ${errorMessage(err)}`, { cause: err }),
      };
    }
    const complete: CompleteAck = {
      job_id: held.job.id,
      lease_token: held.token,
      result: result.bytes,
      result_content_type: result.contentType,
    };
    const error = this.#refusal(complete, this.#maxResultBytes);
    return error === undefined ? { ok: true, value, complete } : { ok: false, error };
  }

  /**
   * The error to fail the job with instead when the broker would refuse this
   * Complete (see acks.ts), also emitted as an AckRefusedError; else undefined.
   */
  #refusal(complete: CompleteAck, maxResultBytes: number): NonRetryableError | undefined {
    const problem = completeProblem(complete, maxResultBytes);
    if (problem === undefined) return undefined;
    this.#emitError(
      new AckRefusedError(complete.job_id, 'ACK_INVALID', `${problem}; failed the job instead`),
    );
    return new NonRetryableError(problem);
  }

  #reportProgress(held: HeldLease, value: unknown): Promise<void> {
    if (held.phase !== 'running') return Promise.resolve();
    let encoded: ReturnType<typeof encodeReported>;
    try {
      encoded = encodeReported(value);
    } catch (err) {
      return this.#refuseProgress(
        `progress of job ${held.job.id} cannot be encoded as JSON, not sent: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const { bytes: data, contentType } = encoded;
    if (data.length > MAX_PROGRESS_BYTES) {
      return this.#refuseProgress(
        `progress of job ${held.job.id} is ${data.length} bytes; the limit is ${MAX_PROGRESS_BYTES}: not sent`,
      );
    }
    const pending = this.#progress.get(held.job.id);
    if (pending !== undefined) Object.assign(pending, { data, contentType });
    else this.#progress.set(held.job.id, { token: held.token, data, contentType, waiters: [] });
    if (this.#session?.welcome === undefined) return Promise.resolve();
    this.#scheduleFlush();
    return new Promise((resolve) => this.#progress.get(held.job.id)?.waiters.push(resolve));
  }

  /**
   * Refuses a progress value without sending it: the promise ctx.progress()
   * returns rejects with a RotaError INVALID_ARGUMENT (never a throw, so a
   * handler's `.catch()` sees it). A handler that awaits the promise learns
   * from it; one that does not from 'error', and its rejection must not count
   * as unhandled, which would end the process.
   */
  #refuseProgress(message: string, options?: RotaErrorOptions): Promise<void> {
    const error = new RotaError(grpc.status.INVALID_ARGUMENT, message, options);
    this.#emitError(error);
    const refused = Promise.reject(error);
    refused.catch(() => undefined);
    return refused;
  }

  /** Stops a held job for good: aborts its handler (if running) and forgets its ack. */
  #abort(jobId: string, reason: string): void {
    const held = this.#held.get(jobId);
    if (held !== undefined) this.#drop(held, reason);
  }

  #drop(held: HeldLease, reason: string): void {
    const id = held.job.id;
    if (this.#held.get(id) === held) {
      this.#held.delete(id);
      this.#ackQueue.delete(id);
      const progress = this.#progress.get(id);
      if (progress?.token === held.token) {
        this.#progress.delete(id);
        for (const resolve of progress.waiters) resolve();
      }
    }
    clearTimeout(held.deadlineTimer);
    const wasRunning = held.phase === 'running';
    held.phase = 'dropped';
    this.#handlers.delete(held);
    this.#wakeClose?.();
    if (wasRunning) held.abort.abort(new JobAbortedError(id, reason));
  }

  // ---- outgoing batches ---------------------------------------------------

  #scheduleFlush(): void {
    this.#flushScheduled ??= setImmediate(() => this.#flush());
  }

  /**
   * Sends queued progress, then the queued acks in `acks` messages of bounded
   * size; a lease is forgotten once its ack's message is written. Kept while
   * not connected.
   */
  #flush(): void {
    if (this.#flushScheduled !== undefined) {
      clearImmediate(this.#flushScheduled);
      this.#flushScheduled = undefined;
    }
    const session = this.#session;
    const welcome = session?.welcome;
    if (session === undefined || welcome === undefined || session.ended) return;
    for (const [jobId, pending] of this.#progress) {
      this.#send(session, {
        progress: {
          job_id: jobId,
          lease_token: pending.token,
          data: pending.data,
          content_type: pending.contentType,
        },
      });
      for (const resolve of pending.waiters) resolve();
    }
    this.#progress.clear();
    const queued: Array<{ held: HeldLease; ack: Ack }> = [];
    for (const jobId of this.#ackQueue) {
      const held = this.#held.get(jobId);
      if (held?.ack === undefined) continue;
      // This broker may take smaller results than the one the job finished under.
      const error =
        'complete' in held.ack
          ? this.#refusal(held.ack.complete, welcome.max_result_bytes)
          : undefined;
      if (error !== undefined) held.ack = { fail: failMessage(jobId, held.token, error) };
      queued.push({ held, ack: held.ack });
    }
    for (const group of ackGroups(queued, (item) => item.ack)) {
      const completed: CompleteAck[] = [];
      const failed: FailAck[] = [];
      for (const { ack } of group) {
        if ('complete' in ack) completed.push(ack.complete);
        else failed.push(ack.fail);
      }
      if (!this.#send(session, { acks: { completed, failed } })) return;
      for (const { held } of group) {
        this.#held.delete(held.job.id);
        this.#ackQueue.delete(held.job.id);
      }
      this.#wakeClose?.();
    }
  }

  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}
