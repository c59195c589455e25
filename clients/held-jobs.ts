import type { EventEmitter } from 'node:events';

import type { LeaseRef } from '../src/generated/rota/v1/LeaseRef.js';
import type { Ack } from './acks.js';
import { JobAbortedError } from './errors.js';
import type { LazyAbort } from './lazy-abort.js';
import type { WorkStream } from './work-stream.js';
import type { WorkerEvents } from './worker-events.js';
import type { CompiledWorkerOptions, WorkerJob } from './worker-options.js';

/** What the Worker's parts share: the Worker makes it, Sessions keeps its session current. */
export interface WorkerShared {
  readonly options: CompiledWorkerOptions;
  /** The Worker, which emits the events. */
  readonly events: EventEmitter<WorkerEvents>;
  /** Emits on 'error', only when someone listens. */
  readonly reportError: (error: Error) => void;
  readonly jobs: HeldJobs;
  /** The session of the Work stream open now; undefined between streams. */
  session: WorkStream | undefined;
  /** Welcome.max_result_bytes of the latest session (0 = not said). */
  maxResultBytes: number;
}

/** A lease this worker holds: its handler runs, or its ack waits to be sent. */
export interface HeldLease {
  readonly job: WorkerJob;
  readonly token: string;
  /** Aborts the handler's ctx.signal when the lease is lost, cancelled or timed out. */
  readonly abort: LazyAbort;
  phase: 'running' | 'acking' | 'dropped';
  ack: Ack | undefined;
  deadlineTimer: NodeJS.Timeout | undefined;
}

export interface PendingProgress {
  readonly token: string;
  data: Buffer;
  contentType: string;
  readonly waiters: Array<() => void>;
}

/**
 * The leases this worker holds, with what waits to go out for them (progress,
 * acks) and the handlers whose outcome will be reported. A lease is held from
 * its Lease until its ack is written, or until it is dropped.
 */
export class HeldJobs {
  /** Leases held, by job id. */
  readonly leases = new Map<string, HeldLease>();
  /** Job ids of held leases whose ack waits for the next flush. */
  readonly ackQueue = new Set<string>();
  readonly progress = new Map<string, PendingProgress>();
  /** Handlers whose outcome will be reported, for close(). Dropped ones are not waited for. */
  readonly handlers = new Map<HeldLease, Promise<void>>();
  /** Wakes close() when a handler ended, acks went out or a lease was dropped. */
  #wake: (() => void) | undefined;

  /** Jobs whose handler is running now. */
  get running(): number {
    let n = 0;
    for (const held of this.leases.values()) if (held.phase === 'running') n++;
    return n;
  }

  /** Hello.in_flight: every lease held, running or finished-but-unacked. */
  inFlight(): LeaseRef[] {
    return [...this.leases.values()].map((held) => ({
      job_id: held.job.id,
      lease_token: held.token,
      tenant: held.job.tenant,
    }));
  }

  /** Resolves at the next change close() waits for (see changed). */
  nextChange(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  changed(): void {
    this.#wake?.();
  }

  /** The ack of this job went out: its lease is no longer held. */
  acked(jobId: string): void {
    this.leases.delete(jobId);
    this.ackQueue.delete(jobId);
  }

  /** Stops a held job for good: aborts its handler (if running) and forgets its ack. */
  abort(jobId: string, reason: string): void {
    const held = this.leases.get(jobId);
    if (held !== undefined) this.drop(held, reason);
  }

  drop(held: HeldLease, reason: string): void {
    const id = held.job.id;
    if (this.leases.get(id) === held) {
      this.leases.delete(id);
      this.ackQueue.delete(id);
      const progress = this.progress.get(id);
      if (progress?.token === held.token) {
        this.progress.delete(id);
        for (const resolve of progress.waiters) resolve();
      }
    }
    clearTimeout(held.deadlineTimer);
    const wasRunning = held.phase === 'running';
    held.phase = 'dropped';
    this.handlers.delete(held);
    this.changed();
    if (wasRunning) held.abort.abort(new JobAbortedError(id, reason));
  }
}
