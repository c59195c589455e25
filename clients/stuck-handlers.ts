/**
 * Handlers of dropped leases (cancelled, timed out, lost, shut down) that have
 * not returned yet: their signal aborted, and most return at once, but one
 * that ignores it (a CPU loop, a library without AbortSignal support) runs on.
 * Each keeps its slot of `concurrency` until it returns, as "jobs run at once"
 * counts it: the Worker starts no handler in its place and tells the broker
 * its capacity is that much smaller (a Credit, see Outbox.flush). One still
 * running STUCK_REPORT_MS after its abort is reported, once, so an operator
 * sees why the worker takes fewer jobs; `Worker.stuck` says how many there are.
 */
import type { WorkerJob } from './worker-options.js';

/** Long enough that a handler stopping on its signal (a request being torn down) is not reported. */
export const STUCK_REPORT_MS = 1000;

export interface StuckHandlerHooks {
  /** Their number changed: the capacity the broker was told may be out of date. */
  changed(): void;
  /** Reports a handler still running STUCK_REPORT_MS after its abort. */
  warn(error: Error): void;
}

export class StuckHandlers {
  /** Each stuck handler's report, by its job (one object per lease), cleared when it returns first. */
  readonly #reports = new Map<WorkerJob, NodeJS.Timeout>();

  constructor(
    private readonly concurrency: number,
    private readonly hooks: StuckHandlerHooks,
  ) {}

  get size(): number {
    return this.#reports.size;
  }

  /** The lease of a running handler was dropped and its signal aborts for `reason`. */
  add(job: WorkerJob, reason: string): void {
    const report = setTimeout(() => {
      this.hooks.warn(
        new Error(
          `the handler of job ${job.id} (tenant ${job.tenant}, queue ${job.queue}) still runs ${STUCK_REPORT_MS} ms after its signal aborted (${reason}); until it returns it keeps one of the worker's ${this.concurrency} slots (worker.stuck counts these): make it stop on ctx.signal`,
        ),
      );
    }, STUCK_REPORT_MS);
    report.unref();
    this.#reports.set(job, report);
    this.hooks.changed();
  }

  /** A handler returned: its slot is free again if it was stuck. */
  settled(job: WorkerJob): void {
    const report = this.#reports.get(job);
    if (report === undefined) return;
    clearTimeout(report);
    this.#reports.delete(job);
    this.hooks.changed();
  }
}
