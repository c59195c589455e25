import type { Logger } from 'pino';

type Fields = Record<string, unknown> | (() => Record<string, unknown>);

/**
 * A warning that can recur once per message or request while Redis is down or
 * full, logged at most once per interval: the first at once, then one per
 * interval that says how many were left out in between. Warnings left out at
 * the end of a burst (the outage over before the next interval) are logged
 * when that interval ends, as the last of them with the count of the others,
 * so a log never under-reports how often it happened.
 */
export class ThrottledWarning {
  private loggedAt = -Infinity;
  private leftOut = 0;
  private lastLeftOut: Fields | undefined;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly everyMs = 1000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** `fields` may be a function: called only when the warning is logged (for hot paths). */
  warn(fields: Fields): void {
    const now = this.clock();
    if (now - this.loggedAt < this.everyMs) {
      this.leftOut += 1;
      this.lastLeftOut = fields;
      // unref: a pending count never keeps a stopping process alive
      this.flushTimer ??= setTimeout(
        () => this.flush(),
        this.loggedAt + this.everyMs - now,
      ).unref();
      return;
    }
    this.log(now, fields, this.leftOut);
  }

  /** Logs the last warning left out, with how many others were, if the interval passed without another. */
  private flush(): void {
    this.flushTimer = undefined;
    const fields = this.lastLeftOut;
    if (fields === undefined) return;
    this.log(this.clock(), fields, this.leftOut - 1);
  }

  private log(now: number, fields: Fields, leftOut: number): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.loggedAt = now;
    this.leftOut = 0;
    this.lastLeftOut = undefined;
    const logged = typeof fields === 'function' ? fields() : fields;
    this.logger.warn(leftOut > 0 ? { ...logged, leftOut } : logged, this.message);
  }
}
