/**
 * The Worker's sessions with the broker, one Work stream at a time: Hello
 * (listing the leases held, to re-attach) and Welcome, heartbeats and the
 * broker's silence, the broker's messages, and reconnecting with backoff when
 * a stream ends.
 */
import { performance } from 'node:perf_hooks';

import * as grpc from '@grpc/grpc-js';

import type { BrokerMessage__Output } from '../src/generated/rota/v1/BrokerMessage.js';
import type { Welcome__Output } from '../src/generated/rota/v1/Welcome.js';
import { connect, type Connection, type ConnectionOptions } from './connection.js';
import { AckRefusedError, RotaError, toRotaError } from './errors.js';
import type { WorkerShared } from './held-jobs.js';
import type { JobRunner } from './job-runner.js';
import type { Outbox } from './outbox.js';
import { reconnectDelayMs } from './reconnect.js';
import { WorkStream } from './work-stream.js';

/** Stream ends that no retry will fix while the worker's configuration stays the same. */
const FATAL_CODES: ReadonlySet<number> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNIMPLEMENTED,
]);

/** What the sessions need from the Worker's lifecycle (start() and close()). */
export interface SessionLifecycle {
  /** close() was called: a new session takes no new leases. */
  draining(): boolean;
  /** Whether a stream that ended is opened again. */
  mayReconnect(): boolean;
  /** A session was welcomed: start() resolves. */
  welcomed(): void;
  /** A refusal no retry fixes, before the first Welcome: start() rejects and the Worker closes. */
  refused(error: RotaError): void;
}

export class Sessions {
  #connection: Connection;
  /** Makes a channel: a new one replaces a channel whose connection went silent. */
  readonly #connect: () => Connection;
  #reconnectAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #everWelcomed = false;

  constructor(
    options: ConnectionOptions,
    private readonly shared: WorkerShared,
    private readonly runner: JobRunner,
    private readonly outbox: Outbox,
    private readonly lifecycle: SessionLifecycle,
  ) {
    const { reconnectInitialMs, reconnectMaxMs } = shared.options;
    // Let the channel itself retry at our pace too: grpc-js would otherwise wait
    // 1 s, 1.6 s, 2.6 s… between TCP attempts, longer than a short lease TTL.
    this.#connect = () =>
      connect({
        ...options,
        channelOptions: {
          'grpc.initial_reconnect_backoff_ms': reconnectInitialMs,
          'grpc.max_reconnect_backoff_ms': reconnectMaxMs,
          ...options.channelOptions,
        },
      });
    this.#connection = this.#connect();
  }

  get everWelcomed(): boolean {
    return this.#everWelcomed;
  }

  open(): void {
    const { options, jobs } = this.shared;
    const call = this.#connection.client.Work(this.#connection.metadata());
    const capacity = Math.max(0, options.concurrency - jobs.stuck.size);
    // Hello takes no capacity 0 (unset on the wire): with every slot held by
    // stuck handlers, the Credit after Welcome says 0, and a lease the broker
    // sends before reading it waits for a slot.
    const session = new WorkStream(call, Math.max(1, capacity), (error) =>
      this.shared.listeners.reportError(error),
    );
    this.shared.session = session;
    call.on('data', (msg: BrokerMessage__Output) => this.#onMessage(session, msg));
    call.on('error', (err: unknown) => (session.error ??= toRotaError(err)));
    // Leases and Cancels read before the status must be handled first: end the
    // session once the readable side has ended too (data always comes first).
    call.on('status', () => {
      if (call.readableEnded) this.#onSessionEnd(session);
      else setTimeout(() => this.#onSessionEnd(session), 1000).unref();
    });
    call.on('end', () => this.#onSessionEnd(session));
    session.send({
      hello: {
        worker_id: options.workerId,
        queues: [...options.queues],
        tenants: [...options.tenants],
        capacity: session.capacity,
        protocol_version: 1,
        in_flight: jobs.inFlight(),
      },
    });
    // A reconnect while closing is only for the leases held: no new ones.
    if (this.lifecycle.draining()) session.send({ drain: {} });
  }

  /** No reconnect from now on (close() is done waiting). */
  stopReconnecting(): void {
    clearTimeout(this.#reconnectTimer);
  }

  closeChannel(): void {
    this.#connection.client.close();
  }

  #onMessage(session: WorkStream, msg: BrokerMessage__Output): void {
    if (session !== this.shared.session) return;
    session.heardAt = performance.now();
    switch (msg.msg) {
      case 'welcome':
        if (msg.welcome) this.#onWelcome(session, msg.welcome);
        break;
      case 'leases':
        for (const lease of msg.leases?.leases ?? []) this.runner.take(lease);
        break;
      case 'cancel':
        if (msg.cancel) this.shared.jobs.abort(msg.cancel.job_id, msg.cancel.reason || 'cancelled');
        break;
      case 'ack_result':
        for (const outcome of msg.ack_result?.outcomes ?? []) {
          if (outcome.status !== 'ACK_OK') {
            this.shared.listeners.reportError(
              new AckRefusedError(outcome.job_id, outcome.status, outcome.message),
            );
          }
        }
        break;
      case 'drain':
        // The broker is shutting down: running jobs finish and are acked as usual;
        // when the stream ends we reconnect and re-attach whatever still runs.
        this.shared.listeners.notify('draining', msg.drain?.grace_ms ?? 0);
        break;
      case 'heartbeat_ack':
      case undefined:
        break;
    }
  }

  #onWelcome(session: WorkStream, welcome: Welcome__Output): void {
    const { jobs } = this.shared;
    session.welcome = welcome;
    this.shared.maxResultBytes = welcome.max_result_bytes;
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
      session.send({ heartbeat: {} });
    }, interval);
    session.heartbeat.unref();
    for (const jobId of welcome.refused_job_ids) {
      const held = jobs.leases.get(jobId);
      if (held === undefined) continue;
      if (held.phase === 'acking') {
        this.shared.listeners.reportError(
          new AckRefusedError(jobId, 'ACK_STALE', 'lease no longer current after reconnect'),
        );
      }
      jobs.abort(jobId, 'lease lost');
    }
    this.#everWelcomed = true;
    this.lifecycle.welcomed();
    this.outbox.schedule();
    this.shared.listeners.notify('connected', {
      sessionId: welcome.session_id,
      reattachedJobIds: welcome.reattached_job_ids,
      refusedJobIds: welcome.refused_job_ids,
    });
  }

  #onSessionEnd(session: WorkStream): void {
    if (session.ended) return;
    session.ended = true;
    clearInterval(session.heartbeat);
    session.markClosed();
    if (session !== this.shared.session) return;
    this.shared.session = undefined;
    this.outbox.sessionEnded();
    const reconnecting = this.lifecycle.mayReconnect();
    const error =
      session.error ?? new RotaError(grpc.status.UNAVAILABLE, 'the broker ended the Work stream');
    // Never welcomed, so no 'disconnected' to tell.
    if (reconnecting && !this.#everWelcomed && FATAL_CODES.has(error.code)) {
      this.lifecycle.refused(error);
      return;
    }
    if (reconnecting) this.#scheduleReconnect();
    // The listeners last: whatever they do, the reconnect is scheduled.
    if (session.welcome !== undefined) this.shared.listeners.notify('disconnected', session.error);
    if (reconnecting) this.shared.listeners.reportError(error);
  }

  #scheduleReconnect(): void {
    const { reconnectInitialMs, reconnectMaxMs } = this.shared.options;
    const delay = reconnectDelayMs(this.#reconnectAttempt++, reconnectInitialMs, reconnectMaxMs);
    this.#reconnectTimer = setTimeout(() => {
      if (this.lifecycle.mayReconnect()) this.open();
    }, delay);
  }

  #leaveIfSilent(session: WorkStream, silenceLimitMs: number): void {
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
}
