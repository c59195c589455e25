/**
 * Runs the handler of each lease the broker sends: the job as the handler sees
 * it, its timeout on this process's clock, one CONSUMER span per attempt, and
 * the outcome handed to the Outbox, unless the lease was lost meanwhile.
 */
import { context, trace } from '@opentelemetry/api';

import type { Lease__Output } from '../src/generated/rota/v1/Lease.js';
import { failMessage, type CompleteAck } from './acks.js';
import { decodePayload, encodeReported } from './codec.js';
import { JobAbortedError, NonRetryableError, errorMessage } from './errors.js';
import type { HeldLease, WorkerShared } from './held-jobs.js';
import { JobContext } from './job-context.js';
import { LazyAbort } from './lazy-abort.js';
import type { Outbox } from './outbox.js';
import {
  SpanKind,
  contextFromHeaders,
  endSpan,
  hasSampledTraceContext,
  messagingAttributes,
  startSpan,
} from '../src/telemetry/tracing.js';
import type { WorkerJob } from './worker-options.js';

export class JobRunner {
  constructor(
    private readonly shared: WorkerShared,
    private readonly outbox: Outbox,
  ) {}

  /**
   * A lease from the broker: held from now on, its handler started, or started
   * once a slot frees when stuck handlers hold them all (the broker may have
   * sent it before it heard of the smaller capacity).
   */
  take(lease: Lease__Output): void {
    const { jobs, options } = this.shared;
    const previous = jobs.leases.get(lease.job_id);
    if (previous?.token === lease.lease_token) return;
    if (previous !== undefined) jobs.drop(previous, 'lease lost');
    // On this process's clock: a broker's clock may differ from ours by more
    // than the timeout (deadline_unix_ms is the broker's; brokers before
    // timeout_left_ms sent only that).
    const deadline =
      lease.timeout_left_ms > 0
        ? Date.now() + lease.timeout_left_ms
        : Number(lease.deadline_unix_ms);
    // A copy: the decoded payload is a view into the whole lease message, which
    // a long-running handler would keep alive with every other job's payload.
    const rawPayload = Buffer.from(lease.payload);
    const job: WorkerJob = {
      id: lease.job_id,
      tenant: lease.tenant,
      queue: lease.queue,
      payload: undefined,
      rawPayload,
      attempt: lease.attempt,
      maxAttempts: lease.max_attempts,
      headers: lease.headers,
      createdAt: Number(lease.created_at_unix_ms),
      ...(deadline > 0 ? { deadline } : {}),
    };
    const held: HeldLease = {
      job,
      token: lease.lease_token,
      abort: new LazyAbort(),
      phase: 'waiting',
      ack: undefined,
      deadlineTimer: undefined,
    };
    jobs.leases.set(job.id, held);
    if (deadline > 0) {
      // The broker sends Cancel at the deadline; this covers a broker we cannot hear.
      held.deadlineTimer = setTimeout(
        () => jobs.abort(job.id, 'timeout'),
        Math.max(0, deadline - Date.now()),
      );
      held.deadlineTimer.unref();
    }
    if (jobs.hasFreeSlot(options.concurrency)) this.#start(held);
    else jobs.waiting.add(held);
  }

  #start(held: HeldLease): void {
    this.shared.jobs.waiting.delete(held);
    held.phase = 'running';
    void this.#run(held).finally(() => {
      this.shared.jobs.stuck.settled(held.job);
      this.#startWaiting();
      this.shared.jobs.changed();
    });
  }

  /** A handler returned: leases waiting for its slot start. */
  #startWaiting(): void {
    const { jobs, options } = this.shared;
    for (const held of jobs.waiting) {
      if (!jobs.hasFreeSlot(options.concurrency)) return;
      this.#start(held);
    }
  }

  /**
   * Never rejects: what the handler throws is its outcome, listeners are
   * called safely, and the reporting copes with any thrown value.
   */
  async #run(held: HeldLease): Promise<void> {
    const { job, abort } = held;
    const { listeners } = this.shared;
    const ctx = new JobContext(abort, job.attempt, (value) =>
      this.outbox.reportProgress(held, value),
    );
    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
    // One CONSUMER span per attempt, a child of the producer's span. None for
    // a job whose trace context is unsampled: under the parent-based samplers
    // it records nothing, and starting it cost the worker 1–2 µs per job of
    // its 17–26 at 10% sampling (the broker skips such spans too). The handler
    // still runs in that context, so the spans it starts stay in the job's trace.
    const parent = contextFromHeaders(job.headers);
    const span =
      job.headers.traceparent !== undefined && !hasSampledTraceContext(job.headers)
        ? undefined
        : startSpan(
            `process ${job.queue}`,
            SpanKind.CONSUMER,
            messagingAttributes('process', job),
            parent,
          );
    try {
      job.payload = decodeJobPayload(job);
      const value: unknown = await context.with(span ? trace.setSpan(parent, span) : parent, () =>
        this.shared.options.handler(job, ctx),
      );
      outcome = { ok: true, value };
    } catch (error) {
      outcome = { ok: false, error };
    }
    clearTimeout(held.deadlineTimer);
    if (held.phase !== 'running') {
      if (span) endSpan(span, abort.reason ?? 'lease lost');
      listeners.notify('failed', job, abort.reason ?? new JobAbortedError(job.id, 'lease lost'));
      return;
    }
    if (span) endSpan(span, outcome.ok ? undefined : outcome.error);
    const reported = outcome.ok ? this.#completion(held, outcome.value) : outcome;
    // The ack is queued before the listeners hear of the outcome: whatever
    // they do (throw, close the worker), it goes out.
    if (reported.ok) {
      this.outbox.ack(held, { complete: reported.complete });
      listeners.notify('completed', job, reported.value);
    } else {
      this.outbox.ack(held, { fail: failMessage(job.id, held.token, reported.error) });
      listeners.notify('failed', job, reported.error);
    }
  }

  /** The Complete reporting a handler's value, or the error to fail the job with when none can. */
  #completion(
    held: HeldLease,
    value: unknown,
  ): { ok: true; value: unknown; complete: CompleteAck } | { ok: false; error: unknown } {
    let result: ReturnType<typeof encodeReported>;
    try {
      result = encodeReported(value);
    } catch (err) {
      return {
        ok: false,
        error: new NonRetryableError(`result: ${errorMessage(err)}`, { cause: err }),
      };
    }
    const complete: CompleteAck = {
      job_id: held.job.id,
      lease_token: held.token,
      result: result.bytes,
      result_content_type: result.contentType,
    };
    const error = this.outbox.refusal(complete, this.shared.maxResultBytes);
    return error === undefined ? { ok: true, value, complete } : { ok: false, error };
  }
}

/** The payload as the handler sees it; a NonRetryableError when its JSON is not valid. */
function decodeJobPayload(job: WorkerJob): unknown {
  try {
    return decodePayload(job.rawPayload, job.headers);
  } catch (err) {
    throw new NonRetryableError(`payload is not valid JSON: ${errorMessage(err)}`, { cause: err });
  }
}
