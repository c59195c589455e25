import type { LeaseRef } from '../src/generated/rota/v1/LeaseRef.js';
import type { Ack } from './acks.js';
import { JobAbortedError } from './errors.js';
import type { LazyAbort } from './lazy-abort.js';
import type { StuckHandlers } from './stuck-handlers.js';
import type { WorkStream } from './work-stream.js';
import type { WorkerListeners } from './worker-listeners.js';
import type { CompiledWorkerOptions, WorkerJob } from './worker-options.js';

/** What the Worker's parts share: the Worker makes it, Sessions keeps its session current. */
export interface WorkerShared {
  readonly options: CompiledWorkerOptions;
  /** The Worker's event listeners, called so that none can break the Worker. */
  readonly listeners: WorkerListeners;
  readonly jobs: HeldJobs;
  /** The session of the Work stream open now; undefined between streams. */
  session: WorkStream | undefined;
  /** Welcome.max_result_bytes of the latest session (0 = not said). */
  maxResultBytes: number;
}

/**
 * A lease this worker holds: its handler waits for a slot, or runs, or its ack
 * waits to be sent.
 */
export interface HeldLease {
  readonly job: WorkerJob;
  readonly token: string;
  /** Aborts the handler's ctx.signal when the lease is lost, cancelled or timed out. */
  readonly abort: LazyAbort;
  phase: 'waiting' | 'running' | 'acking' | 'dropped';
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
  /** Held leases whose handler waits for a slot (see hasFreeSlot), oldest first. */
  readonly waiting = new Set<HeldLease>();
  /** Wakes close() when a handler ended, acks went out or a lease was dropped. */
  #wake: (() => void) | undefined;

  constructor(
    /** Handlers of dropped leases that have not returned: each keeps its slot. */
    readonly stuck: StuckHandlers,
  ) {}

  /** Jobs whose handler is running now (stuck ones aside: their lease is gone). */
  get running(): number {
    let n = 0;
    for (const held of this.leases.values()) if (held.phase === 'running') n++;
    return n;
  }

  /** Leases whose outcome will be reported, for close(): their handler waits or runs. */
  get unfinished(): number {
    return this.running + this.waiting.size;
  }

  /**
   * Whether one more handler may start: running and stuck ones hold the slots.
   * Without stuck handlers the broker's capacity (the concurrency) bounds the
   * leases held, and so the handlers: the count, which walks every lease,
   * is left for when some are stuck.
   */
  hasFreeSlot(concurrency: number): boolean {
    return this.stuck.size === 0 || this.running + this.stuck.size < concurrency;
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
    this.waiting.delete(held);
    const wasRunning = held.phase === 'running';
    held.phase = 'dropped';
    this.changed();
    if (!wasRunning) return;
    // Its handler runs on until it returns (see StuckHandlers).
    this.stuck.add(held.job, reason);
    held.abort.abort(new JobAbortedError(id, reason));
  }
}
