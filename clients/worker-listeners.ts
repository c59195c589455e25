/**
 * How the Worker calls its event listeners: user code that must not break the
 * Worker's own bookkeeping. Callers do their bookkeeping first (queue the ack,
 * schedule the reconnect, resolve start()) and call the listeners last; a
 * listener that throws, or returns a promise that rejects, neither stops the
 * listeners after it nor reaches the Worker's code.
 *
 * Where a listener's error goes: to the 'error' listeners, as an Error naming
 * the event, with the thrown value as its cause. One thrown by an 'error'
 * listener itself, or with no 'error' listener, becomes a process warning
 * (process.emitWarning: printed to stderr, or to the process's 'warning'
 * listeners). Rethrowing it, as EventEmitter does, would end the process for a
 * bug in a metrics or logging callback, and with it the acks not sent yet and
 * the leases held: their jobs would run again.
 */
import type { EventEmitter } from 'node:events';

import { errorMessage } from './errors.js';
import type { WorkerEvents } from './worker-events.js';

export class WorkerListeners {
  constructor(private readonly emitter: EventEmitter<WorkerEvents>) {}

  /** Calls each listener of `event`, reporting the errors of those that fail. */
  notify<K extends keyof WorkerEvents>(event: K, ...args: WorkerEvents[K]): void {
    // rawListeners: a once() wrapper removes itself when called, as emit() would have it.
    for (const listener of (this.emitter as EventEmitter).rawListeners(event)) {
      try {
        const returned: unknown = Reflect.apply(listener, this.emitter, args);
        if (returned instanceof Promise) {
          returned.catch((err: unknown) => this.#listenerFailed(event, err));
        }
      } catch (err) {
        this.#listenerFailed(event, err);
      }
    }
  }

  /** On 'error', only when someone listens (stream failures the Worker retries anyway). */
  reportError(error: Error): void {
    this.notify('error', error);
  }

  /** On 'error' when someone listens, else as a process warning: something to fix. */
  warn(error: Error): void {
    if (this.emitter.listenerCount('error') > 0) this.notify('error', error);
    else process.emitWarning(error);
  }

  #listenerFailed(event: keyof WorkerEvents, err: unknown): void {
    const error = new Error(`a Worker '${event}' listener threw: ${errorMessage(err)}`, {
      cause: err,
    });
    if (event === 'error') process.emitWarning(error);
    else this.warn(error);
  }
}
