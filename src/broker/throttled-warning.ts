import type { Logger } from 'pino';

/**
 * A warning that can recur once per message or request while Redis is down or
 * full, logged at most once per interval: the first at once, then one per
 * interval that says how many were left out in between.
 */
export class ThrottledWarning {
  private loggedAt = -Infinity;
  private leftOut = 0;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly everyMs = 1000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** `fields` may be a function: called only when the warning is logged (for hot paths). */
  warn(fields: Record<string, unknown> | (() => Record<string, unknown>)): void {
    const now = this.clock();
    if (now - this.loggedAt < this.everyMs) {
      this.leftOut += 1;
      return;
    }
    const leftOut = this.leftOut;
    this.loggedAt = now;
    this.leftOut = 0;
    const logged = typeof fields === 'function' ? fields() : fields;
    this.logger.warn(leftOut > 0 ? { ...logged, leftOut } : logged, this.message);
  }
}
