import { WRITE_RETRY_MS } from './held-leases.js';
import type { ThrottledWarning, ThrottledWarnings } from './throttled-warning.js';

/**
 * A Redis write (a batch of leases or acks, the give-back of a call whose
 * reply was lost) that is written again every second until Redis answers. While Redis is down every
 * waiting batch fails each second, and a line per failure was a line per
 * batch per second; the failures go through a ThrottledWarning instead: the
 * first at once, then one a second that says how many were left out. At warn,
 * as the other failures of an outage that retry by themselves are.
 */
export class WriteRetry {
  private readonly failed: ThrottledWarning;

  /** `what`: the write, as the log line names it ('leasing jobs'). */
  constructor(warnings: ThrottledWarnings, what: string) {
    this.failed = warnings.make(`${what} failed; each batch is retried every 1 s`);
  }

  /** Logs the failure (`fields` is built only when the line is logged) and calls `write` in 1 s. */
  retry(fields: () => Record<string, unknown>, write: () => void): void {
    this.failed.warn(fields);
    setTimeout(write, WRITE_RETRY_MS).unref();
  }
}
