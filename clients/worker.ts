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

import * as grpc from '@grpc/grpc-js';

import { RotaError } from './errors.js';
import { HeldJobs, type WorkerShared } from './held-jobs.js';
import { JobRunner } from './job-runner.js';
import { Outbox } from './outbox.js';
import { Sessions } from './sessions.js';
import { closeOnSignals } from './shutdown-signals.js';
import { StuckHandlers } from './stuck-handlers.js';
import type { WorkerEvents, WorkerState } from './worker-events.js';
import { WorkerListeners } from './worker-listeners.js';
import { compileWorkerOptions, type WorkerOptions } from './worker-options.js';

export type { WorkerEvents, WorkerState } from './worker-events.js';
export type { Handler, HandlerContext, WorkerJob, WorkerOptions } from './worker-options.js';

/** How long close() waits for the broker to end the stream after the half-close. */
const END_GRACE_MS = 2000;

/**
 * The Worker keeps its lifecycle (start, close, signals) and is what callers
 * use; the leases it holds are in HeldJobs, shared with its parts: Sessions
 * (the Work stream, Hello/Welcome, heartbeats, reconnecting), JobRunner (a
 * lease's handler and its outcome) and the Outbox (progress and acks going
 * out).
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly #shared: WorkerShared;
  readonly #outbox: Outbox;
  readonly #sessions: Sessions;
  #state: WorkerState = 'IDLE';
  #started: { promise: Promise<void>; resolve(): void; reject(err: Error): void } | undefined;
  #closing: Promise<void> | undefined;
  /** While closing: reconnects go on until then (for the leases still held). */
  #graceEnd = 0;

  constructor(options: WorkerOptions) {
    super();
    const compiled = compileWorkerOptions(options);
    const listeners = new WorkerListeners(this);
    const stuck = new StuckHandlers(compiled.concurrency, {
      changed: () => this.#outbox.schedule(),
      warn: (error) => listeners.warn(error),
    });
    this.#shared = {
      options: compiled,
      listeners,
      jobs: new HeldJobs(stuck),
      session: undefined,
      maxResultBytes: 0,
    };
    this.#outbox = new Outbox(this.#shared);
    this.#sessions = new Sessions(
      options,
      this.#shared,
      new JobRunner(this.#shared, this.#outbox),
      this.#outbox,
      {
        draining: () => this.#state === 'DRAINING',
        mayReconnect: () => this.#mayReconnect(),
        welcomed: () => this.#started?.resolve(),
        refused: (error) => {
          this.#started?.reject(error);
          void this.close();
        },
      },
    );
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** Jobs whose handler is running now. */
  get running(): number {
    return this.#shared.jobs.running;
  }

  /**
   * Handlers still running after their job was cancelled, timed out, lost its
   * lease or was given up by close(): they ignore their `signal`. Each keeps a
   * slot of `concurrency` until it returns, so the worker takes that many
   * fewer jobs; one stuck for a second is reported on 'error'.
   */
  get stuck(): number {
    return this.#shared.jobs.stuck.size;
  }

  /**
   * Connects; resolves on the first Welcome. Until then transient failures are
   * retried; a refusal no retry fixes (bad Hello, protocol version, auth)
   * rejects and stops the worker. After the first Welcome it reconnects forever.
   * A second call returns the first's promise; a call once close() was called
   * rejects with FAILED_PRECONDITION (a closed Worker does not start again).
   */
  start(): Promise<void> {
    // Checked first: a start() after close() resolved with the first start's
    // promise, as if the closed worker ran.
    if (this.#state === 'DRAINING' || this.#state === 'STOPPED')
      return Promise.reject(new RotaError(grpc.status.FAILED_PRECONDITION, 'the Worker is closed'));
    if (this.#started !== undefined) return this.#started.promise;
    let resolve: () => void = () => undefined;
    let reject: (err: Error) => void = () => undefined;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#started = { promise, resolve, reject };
    this.#state = 'RUNNING';
    this.#listenForSignals();
    this.#sessions.open();
    return promise;
  }

  /**
   * Graceful stop: sends Drain, waits up to shutdownGraceMs for running
   * handlers and for their acks to be sent (reconnecting meanwhile if the
   * broker is away), half-closes the stream, then aborts handlers still
   * running (their leases expire on the broker). A handler calls it without
   * awaiting it: awaited, it waits for that handler as for the others.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  #stopListeningForSignals: () => void = () => undefined;

  /** Graceful close on SIGINT/SIGTERM (or the configured signals), like the broker. */
  #listenForSignals(): void {
    this.#stopListeningForSignals = closeOnSignals(this.#shared.options.shutdownSignals, () => {
      void this.close();
    });
  }

  async #close(): Promise<void> {
    const { jobs } = this.#shared;
    this.#stopListeningForSignals();
    const wasIdle = this.#state === 'IDLE';
    this.#state = 'DRAINING';
    this.#graceEnd = Date.now() + this.#shared.options.shutdownGraceMs;
    if (this.#started !== undefined && !this.#sessions.everWelcomed) {
      this.#started.reject(
        new RotaError(grpc.status.CANCELLED, 'the Worker was closed before it connected'),
      );
    }
    if (!wasIdle) {
      this.#shared.session?.send({ drain: {} });
      // Leases may still arrive until the broker has read Drain: wait for those
      // too. Acks wait for a session: a reconnect (see #mayReconnect) brings one.
      while ((jobs.unfinished > 0 || jobs.ackQueue.size > 0) && Date.now() < this.#graceEnd) {
        await waitAtMost(jobs.nextChange(), this.#graceEnd - Date.now());
      }
      this.#graceEnd = 0;
      this.#sessions.stopReconnecting();
      this.#outbox.flush();
      const session = this.#shared.session;
      if (session !== undefined && !session.ended) {
        // Not welcomed yet: it cannot take the acks anyway.
        if (session.welcome !== undefined) {
          session.call.end();
          await waitAtMost(session.closed, END_GRACE_MS);
        }
        if (!session.ended) session.call.cancel();
      }
      for (const held of [...jobs.leases.values()]) jobs.drop(held, 'shutdown');
    }
    this.#state = 'STOPPED';
    this.#sessions.closeChannel();
  }

  /** Always while running; while closing, for the leases still held until the grace is over. */
  #mayReconnect(): boolean {
    if (this.#state === 'RUNNING') return true;
    return (
      this.#state === 'DRAINING' && this.#shared.jobs.leases.size > 0 && Date.now() < this.#graceEnd
    );
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
