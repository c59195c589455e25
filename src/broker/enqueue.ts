import type { NewJob } from '../store/types.js';
import { RepliesLost } from '../store/intake.js';
import {
  SpanKind,
  contextFromHeaders,
  endSpan,
  hasSampledTraceContext,
  messagingAttributes,
  startSpan,
} from '../telemetry/tracing.js';
import type { BrokerContext } from './broker-context.js';
import type { PlannedFetch, QueueDispatcher } from './dispatcher.js';
import { BrokerError, coerceError } from './errors.js';
import type { ServedQueues } from './served-queues.js';
import type { TenantRegistry } from './tenants.js';
import { toNewJob, type EnqueueInput } from './validation.js';

export type EnqueueResult = { readonly jobId: string; readonly duplicate: boolean } | BrokerError;

/** Jobs validated, stored, and announced to the dispatchers that serve their queues. */
export class Enqueuer {
  constructor(
    private readonly context: BrokerContext,
    private readonly queues: ServedQueues,
    private readonly tenants: TenantRegistry,
  ) {}

  async enqueue(inputs: readonly EnqueueInput[]): Promise<EnqueueResult[]> {
    const { config, store, observer, doorbell } = this.context;
    const now = this.context.clock();
    const results: EnqueueResult[] = new Array<EnqueueResult>(inputs.length);
    const jobs: NewJob[] = [];
    const positions: number[] = [];
    inputs.forEach((input, i) => {
      try {
        jobs.push(toNewJob(input, config, now));
        positions.push(i);
      } catch (error) {
        results[i] = coerceError(error);
      }
    });
    if (jobs.length === 0) return results;
    const spans = jobs.map((job) =>
      hasSampledTraceContext(job.headers)
        ? startSpan(
            `enqueue ${job.queue}`,
            SpanKind.SERVER,
            messagingAttributes('receive', job),
            contextFromHeaders(job.headers),
          )
        : undefined,
    );
    // Tenants with jobs runnable now, and the highest priority of those: their
    // dispatchers are told at once, and the fetch each needs rides on the
    // enqueue script (a claim).
    const runnable = new Map<string, number>();
    for (const job of jobs) {
      if (job.runAt > now) continue;
      const key = `${job.queue}\n${job.tenant}`;
      runnable.set(key, Math.max(job.priority, runnable.get(key) ?? job.priority));
    }
    const told = new Set<string>();
    const claims: Array<{ dispatcher: QueueDispatcher; request: PlannedFetch }> = [];
    const claim = (tenant: string, queue: string): PlannedFetch | undefined => {
      const dispatcher = this.queues.get(queue);
      const key = `${queue}\n${tenant}`;
      const priority = runnable.get(key);
      if (!dispatcher || priority === undefined) return undefined;
      told.add(key);
      const request = dispatcher.claim(tenant, priority);
      if (request) claims.push({ dispatcher, request });
      return request;
    };
    let reply;
    try {
      reply = await store.enqueue(jobs, (tenant) => this.tenants.maxQueued(tenant), now, claim);
    } catch (error) {
      let cause = error;
      if (error instanceof RepliesLost) {
        this.queues.lostCalls.abandon(error.calls);
        cause = error.cause;
      }
      const failure = coerceError(cause);
      for (const { dispatcher, request } of claims) dispatcher.onFetchFailed([request], failure);
      for (const span of spans) if (span) endSpan(span, failure);
      throw failure;
    }
    // Jobs a claim has read into this broker's pending list: no other broker
    // can read them, so they ring no doorbell. Each ring made every other
    // broker of the queue send a fetch that came back empty, and cost this one
    // a PUBLISH and the echo of it on its own subscription (at low rates,
    // where jobs arrive one at a time, a fifth of its socket writes).
    const readHere = new Set<string>();
    for (const { dispatcher, request } of claims) {
      const result = reply.claimed.get(request)!;
      if (result instanceof Error) {
        dispatcher.onFetchFailed([request], result);
        continue;
      }
      dispatcher.onFetched(request, result, now);
      for (const { id } of result.jobs) readHere.add(id);
    }
    reply.outcomes.forEach((outcome, k) => {
      const job = jobs[k]!;
      const position = positions[k]!;
      const span = spans[k];
      if (span) {
        if (outcome.kind !== 'full') span.setAttribute('messaging.message.id', outcome.jobId);
        if (outcome.kind === 'duplicate') span.setAttribute('rota.duplicate', true);
        endSpan(span, outcome.kind === 'full' ? 'tenant over max_queued' : undefined);
      }
      if (outcome.kind === 'full') {
        results[position] = new BrokerError(
          'resource_exhausted',
          `tenant ${job.tenant} has ${outcome.queued} jobs waiting (ready or delayed) in queue ${job.queue}, its max_queued limit; retry later, or raise max_queued with Admin.SetTenant`,
        );
        return;
      }
      results[position] = { jobId: outcome.jobId, duplicate: outcome.kind === 'duplicate' };
      observer.enqueued(job, outcome.kind === 'duplicate');
      if (outcome.kind !== 'stored') return;
      const dueAt = job.runAt > now ? job.runAt : 0;
      if (!readHere.has(outcome.jobId)) doorbell.ring(job.queue, job.tenant, dueAt, job.priority);
      // A claim told the dispatcher of the runnable jobs only: a delayed job's
      // due time is news to it whatever the claim did. Skipped, a delayed job
      // stored beside a runnable one of its tenant×queue was not looked at
      // when it came due, and waited for the tenant's next read (behind a full
      // buffer, until half of it had run).
      if (dueAt > 0 || !told.has(`${job.queue}\n${job.tenant}`)) {
        this.queues.get(job.queue)?.onWork(job.tenant, dueAt || undefined, job.priority);
      }
    });
    return results;
  }
}
