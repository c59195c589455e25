import type { Logger } from 'pino';

type Fields = Record<string, unknown> | (() => Record<string, unknown>);

/**
 * A warning that can recur once per message or request while Redis is down or
 * full, logged at most once per interval: the first at once, then one per
 * interval that says how many were left out in between. Warnings left out at
 * the end of a burst (the outage over before the next interval) are logged
 * when that interval ends (or when the broker stops: see close), as the last
 * of them with the count of the others, so a log never under-reports how
 * often it happened.
 */
export class ThrottledWarning {
  private loggedAt = -Infinity;
  private leftOut = 0;
  private lastLeftOut: Fields | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly logger: Logger,
    private readonly message: string,
    private readonly everyMs = 1000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** `fields` may be a function: called only when the warning is logged (for hot paths). */
  warn(fields: Fields): void {
    const now = this.clock();
    if (!this.closed && now - this.loggedAt < this.everyMs) {
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

  /**
   * The broker stopped: the warnings left out so far are logged now, and no
   * timer is left to log after the broker said it stopped. Logged rather than
   * dropped: they are what went wrong just before the stop, which an operator
   * looking into it wants to count. A warning after this (a straggler of the
   * last calls; the stopped parts make no more bursts) is logged at once.
   */
  close(): void {
    this.closed = true;
    this.flush();
  }

  /** Logs the last warning left out, with how many others were, if the interval passed without another. */
  private flush(): void {
    const fields = this.lastLeftOut; // set exactly while a flush timer is pending
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

/**
 * The throttled warnings of one broker, made here so that its stop closes
 * them all (see ThrottledWarning.close): a flush timer must not log after the
 * broker said it stopped.
 */
export class ThrottledWarnings {
  private readonly made: ThrottledWarning[] = [];
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /** A warning logged at most once per `everyMs` (see ThrottledWarning). */
  make(message: string, everyMs?: number, clock?: () => number): ThrottledWarning {
    const warning = new ThrottledWarning(this.logger, message, everyMs, clock);
    if (this.closed) warning.close();
    else this.made.push(warning);
    return warning;
  }

  close(): void {
    this.closed = true;
    for (const warning of this.made.splice(0)) warning.close();
  }
}
