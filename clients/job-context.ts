import type { LazyAbort } from './lazy-abort.js';
import type { HandlerContext } from './worker-options.js';

/**
 * The `ctx` a handler gets. A class, not an object literal: a literal with a
 * `get signal()` gives each job a hidden class of its own, and V8 keeps those
 * in the old generation, where they held every job's objects through the
 * young-generation collections until a full one. A worker at 1,700 jobs/s
 * promoted 0.62 MB per scavenge and paused 7–8 ms each; with this class
 * 0.16–0.22 MB and 3–4 ms (BENCHMARKS.md).
 */
export class JobContext implements HandlerContext {
  readonly #abort: LazyAbort;

  constructor(
    abort: LazyAbort,
    readonly attempt: number,
    readonly progress: (value: unknown) => Promise<void>,
  ) {
    this.#abort = abort;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }
}
