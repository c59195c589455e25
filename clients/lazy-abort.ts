/**
 * An AbortController made on first use of its signal. Most handlers never
 * read `ctx.signal`, and a worker that made an AbortController per job spent
 * about 10% of its CPU in it, plus the garbage (bench throughput profile of the
 * worker agent). Aborting before anyone asked for the signal is remembered: the
 * signal, when asked for, is already aborted with that reason.
 */
export class LazyAbort {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Why it was aborted; undefined while it was not. */
  get reason(): unknown {
    return this.#reason;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}
