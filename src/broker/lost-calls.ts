import type { JobStore } from '../store/job-store.js';
import type { StoreCall } from '../store/intake.js';
import type { ThrottledWarnings } from './throttled-warning.js';
import { WriteRetry } from './write-retry.js';

export interface LostCallsDeps {
  readonly store: JobStore;
  readonly warnings: ThrottledWarnings;
  /** Jobs went back to the tenant×queue's streams, unread: the brokers may fetch them. */
  onGivenBack(queue: string, tenant: string): void;
}

/**
 * Calls that read jobs (a fetch, an enqueue's claims) whose Redis reply never
 * came: they may have run all the same, and read and leased jobs this broker
 * does not know. Left alone, those sat in its pending list: read ones until a
 * sweep found them idle for the lease TTL, leased ones until their lease
 * expired as a failed attempt (with max_attempts 1, dead without having run).
 * Each call is given up (JobStore.abandonCall: its jobs go back, or a call
 * still on its way does nothing), written again every second until Redis
 * answers (WriteRetry); once only after stop, the recovery sweep of another
 * broker being left the rest.
 */
export class LostCalls {
  private stopped = false;
  private readonly writeRetry: WriteRetry;

  constructor(private readonly deps: LostCallsDeps) {
    this.writeRetry = new WriteRetry(
      deps.warnings,
      'giving back the jobs of calls whose replies were lost',
    );
  }

  abandon(calls: readonly StoreCall[]): void {
    for (const call of calls) this.abandonOne(call);
  }

  stop(): void {
    this.stopped = true;
  }

  private abandonOne(call: StoreCall): void {
    this.deps.store.abandonCall(call).then(
      (given) => {
        if (given === 0) return;
        for (const { queue, tenant } of call.parts) this.deps.onGivenBack(queue, tenant);
      },
      (error: unknown) => {
        if (this.stopped) return;
        this.writeRetry.retry(
          () => ({ err: error, record: call.record }),
          () => this.abandonOne(call),
        );
      },
    );
  }
}
