/** Worker options: what the caller may set, and the compiled, frozen form the Worker runs on. */
import { constants, hostname } from 'node:os';

import { MAX_TIMER_MS, type ConnectionOptions } from './connection.js';
import { objectArgument, shown, stringList } from './input-shapes.js';
import { wireInteger } from './wire-integers.js';

/** A leased job as the handler sees it. */
export interface WorkerJob {
  id: string;
  tenant: string;
  queue: string;
  /** Parsed JSON when the job's content-type is JSON (what Producer sends for non-binary payloads), else the bytes. */
  payload: unknown;
  rawPayload: Buffer;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  headers: Record<string, string>;
  /**
   * Unix ms, on this process's clock, when the job's timeoutMs passes (the
   * signal aborts then); undefined = no limit.
   */
  deadline?: number;
  /** Unix ms of the Enqueue. */
  createdAt: number;
}

export interface HandlerContext {
  /**
   * Aborts when the job is cancelled, times out, loses its lease, or close()
   * gives up on it. `signal.reason` is a JobAbortedError. Made on first use:
   * read it from `ctx` or destructure it; a spread copy of `ctx` leaves it out.
   */
  readonly signal: AbortSignal;
  /**
   * Stores a progress value on the job, read back by getJob as the result is (a
   * Buffer as bytes, anything else as JSON). Updates of one
   * tick are coalesced to the latest. Best effort: resolves once handed to the
   * stream, or at once while disconnected or when the session ends before it
   * went out (the latest value is sent after the reconnect, if the lease is
   * still held; a lost lease aborts `signal`), or when the job is dropped.
   * A value over 64 KiB encoded (the broker's limit), or one JSON cannot
   * encode (a BigInt, a circular object), is not sent: the promise rejects
   * (it never throws) with a RotaError INVALID_ARGUMENT, also emitted on
   * 'error' (a caller that does not await it is not charged an unhandled
   * rejection), and the job keeps its previous progress.
   * Bound to its job: it may be passed on or destructured.
   */
  progress: (value: unknown) => Promise<void>;
  /** 1 for the first attempt. */
  attempt: number;
}

/**
 * Runs one job. The resolved value is the job's result: a Buffer or Uint8Array
 * as its bytes, anything else JSON-encoded (getJob gives it back alike). A throw
 * fails the attempt: retried with backoff, unless it is a NonRetryableError
 * (dead letter at once); a RetryAfterError sets the delay of the next attempt.
 */
// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- documents that a promise is awaited
export type Handler = (job: WorkerJob, ctx: HandlerContext) => Promise<unknown> | unknown;

export interface WorkerOptions extends ConnectionOptions {
  /**
   * Queues to take jobs from: an array of at least one name (a lone string is
   * refused with a TypeError, not spread into letters). The broker offers
   * free slots to them in turn; their order gives no priority.
   */
  queues: string[];
  /**
   * Only take jobs of these tenants (a dedicated worker): an array of names, as
   * `queues`. @default all tenants
   */
  tenants?: string[];
  /** Jobs run at once (the session's capacity). @default 10 */
  concurrency?: number;
  /** Name for the broker's logs, ≤ 128 chars. @default `${hostname}:${pid}` */
  workerId?: string;
  handler: Handler;
  /**
   * Reconnect backoff (exponential, full jitter): initialMs from 10 ms and
   * maxMs from 100 ms, each up to 2^31 − 1, initialMs ≤ maxMs. The delay
   * grows from initialMs, so less would retry a broker that is down, or that
   * refuses the session (its session limit reached), in a tight loop.
   * @default { initialMs: 100, maxMs: 5000 }
   */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** How long close() waits for running handlers before aborting them. @default 10000 */
  shutdownGraceMs?: number;
  /**
   * Signals that close the worker gracefully (drain, finish, ack). While a
   * worker runs, these signals no longer end the process by themselves: it
   * exits once close() is done and nothing else keeps it alive. [] = none;
   * an array, as `queues`, of signal names this platform has (`'SIGTERM'`,
   * not `'TERM'` or `'sigterm'`), SIGKILL and SIGSTOP aside (no process
   * can catch them).
   * @default ['SIGINT', 'SIGTERM']
   */
  shutdownSignals?: NodeJS.Signals[];
}

export interface CompiledWorkerOptions {
  readonly queues: readonly string[];
  readonly tenants: readonly string[];
  readonly concurrency: number;
  readonly workerId: string;
  readonly handler: Handler;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly shutdownGraceMs: number;
  readonly shutdownSignals: readonly NodeJS.Signals[];
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`Worker: ${name} must be an integer ≥ 1, got ${shown(value)}`);
  }
  return wireInteger(`Worker: ${name}`, value, 'uint32');
}

/** A duration a timer waits: setTimeout fires after 1 ms for a longer one. */
function duration(name: string, value: number, min = 0): number {
  if (typeof value !== 'number' || !(value >= min && value <= MAX_TIMER_MS)) {
    throw new TypeError(
      `Worker: ${name} must be a number from ${min} to ${MAX_TIMER_MS} (24.8 days), got ${shown(value)}`,
    );
  }
  return value;
}

/** Signals no process can catch: Node.js throws when one listens for them. */
const UNCATCHABLE_SIGNALS: ReadonlySet<string> = new Set(['SIGKILL', 'SIGSTOP']);

/**
 * The shutdown signals, each one the process can catch. Node.js takes any
 * other name as a plain event that never comes, so a worker told to stop on
 * 'TERM' or 'sigterm' would be killed by SIGTERM without draining.
 */
function shutdownSignals(value: unknown): readonly NodeJS.Signals[] {
  const signals = stringList<NodeJS.Signals>('Worker: shutdownSignals', value);
  signals.forEach((signal, i) => {
    if (!Object.hasOwn(constants.signals, signal) || UNCATCHABLE_SIGNALS.has(signal)) {
      throw new TypeError(
        `Worker: shutdownSignals[${i}] is ${JSON.stringify(signal)}, not a signal this process can catch (names look like 'SIGTERM'; SIGKILL and SIGSTOP cannot be caught)`,
      );
    }
  });
  return signals;
}

export function compileWorkerOptions(options: WorkerOptions): CompiledWorkerOptions {
  const queues = stringList('Worker: queues', options.queues);
  if (queues.length === 0) throw new TypeError('Worker: queues must name at least one queue');
  if (typeof options.handler !== 'function')
    throw new TypeError('Worker: handler must be a function');
  // From JavaScript a reconnect that is not an object (`reconnect: 5000`) would be ignored.
  const reconnect = objectArgument<NonNullable<WorkerOptions['reconnect']>>(
    'Worker: reconnect',
    options.reconnect ?? {},
  );
  // Floors of 10 and 100 ms: a worker whose broker is down, or refuses its
  // Hello (at its session limit, say), would otherwise retry in a tight loop
  // (at 1 ms, a thousand Hellos a second to that broker), and the jitter
  // cannot help, as it spreads the delay from initialMs up to a ceiling that
  // grows from initialMs (0 stays 0). Retrying settles at no more than about
  // 18 attempts a second at the floors.
  const reconnectMaxMs = duration('reconnect.maxMs', reconnect.maxMs ?? 5000, 100);
  const reconnectInitialMs = duration('reconnect.initialMs', reconnect.initialMs ?? 100, 10);
  if (reconnectInitialMs > reconnectMaxMs) {
    throw new TypeError(
      `Worker: reconnect.initialMs (${reconnectInitialMs}) must not exceed reconnect.maxMs (${reconnectMaxMs})`,
    );
  }
  return Object.freeze({
    queues,
    tenants: stringList('Worker: tenants', options.tenants ?? []),
    concurrency: positiveInt('concurrency', options.concurrency ?? 10),
    workerId: options.workerId ?? `${hostname()}:${process.pid}`,
    handler: options.handler,
    reconnectInitialMs,
    reconnectMaxMs,
    shutdownGraceMs: duration('shutdownGraceMs', options.shutdownGraceMs ?? 10_000),
    shutdownSignals: shutdownSignals(options.shutdownSignals ?? ['SIGINT', 'SIGTERM']),
  });
}
