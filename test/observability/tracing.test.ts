import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { useRota } from '../clients/fixture.js';
import { eventually } from '../helpers/broker.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { hasSampledTraceContext } from '../../src/telemetry/tracing.js';

const exporter = new InMemorySpanExporter();
/** The SDK's default sampler, noting the name of every span started (sampled or not). */
const started: string[] = [];
const defaultSampler = new ParentBasedSampler({ root: new AlwaysOnSampler() });
const sampler: Sampler = {
  shouldSample: (...args) => {
    started.push(args[2]);
    return defaultSampler.shouldSample(...args);
  },
  toString: () => 'counting parent-based sampler',
};
const provider = new NodeTracerProvider({
  sampler,
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});

beforeAll(() => {
  provider.register(); // global tracer, W3C propagator, AsyncLocalStorage context
});
afterAll(async () => {
  await provider.shutdown();
});

const rota = useRota();

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

describe('traces from producer to worker', () => {
  it('shows producer → broker → worker, one worker span per attempt', async () => {
    exporter.reset();
    let attempts = 0;
    const worker = rota.worker({
      queues: ['traced'],
      handler: () => {
        attempts++;
        if (attempts === 1) throw new Error('first attempt fails');
        return 'ok';
      },
    });
    await worker.start();
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'traced',
      payload: { n: 1 },
      backoff: { initialMs: 10, maxMs: 10 },
    });
    await eventually(async () =>
      (await producer.getJob('acme', jobId)).state === 'COMPLETED' ? true : undefined,
    );
    const spans = await eventually(() => {
      const finished = exporter.getFinishedSpans();
      return finished.filter((s) => s.name === 'dispatch traced').length === 2 &&
        finished.filter((s) => s.name === 'process traced').length === 2
        ? finished
        : undefined;
    });

    const send = spans.find((s) => s.name === 'send traced')!;
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toMatchObject({
      'messaging.system': 'rota',
      'messaging.destination.name': 'traced',
      'messaging.message.id': jobId,
      'rota.tenant': 'acme',
    });
    const traceId = send.spanContext().traceId;
    const enqueue = spans.find((s) => s.name === 'enqueue traced')!;
    expect(enqueue.kind).toBe(SpanKind.SERVER);
    expect(parentOf(enqueue)).toBe(send.spanContext().spanId);

    const dispatches = spans.filter((s) => s.name === 'dispatch traced');
    const processes = spans
      .filter((s) => s.name === 'process traced')
      .sort((a, b) => Number(a.attributes['rota.attempt']) - Number(b.attributes['rota.attempt']));
    for (const span of [enqueue, ...dispatches, ...processes]) {
      expect(span.spanContext().traceId).toBe(traceId);
      expect(parentOf(span)).toBe(send.spanContext().spanId);
      expect(span.attributes['messaging.message.id']).toBe(jobId);
    }
    expect(processes.map((s) => s.kind)).toEqual([SpanKind.CONSUMER, SpanKind.CONSUMER]);
    expect(processes.map((s) => s.attributes['rota.attempt'])).toEqual([1, 2]);
    expect(processes.map((s) => s.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    expect(processes[0]!.status.message).toBe('first attempt fails');
    const failedDispatch = dispatches.find((s) => s.attributes['rota.attempt'] === 1)!;
    expect(failedDispatch.status.code).toBe(SpanStatusCode.ERROR);
    expect(failedDispatch.attributes['rota.outcome']).toBe('retrying');
  });

  it('starts no worker span for a job whose trace is unsampled, and runs its handler in that trace', async () => {
    const seen: Array<ReturnType<typeof trace.getSpanContext>> = [];
    const worker = rota.worker({
      queues: ['unsampled'],
      handler: () => {
        seen.push(trace.getSpanContext(context.active()));
        return 'ok';
      },
    });
    await worker.start();
    const producer = rota.producer();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const unsampled = trace.setSpanContext(context.active(), {
      traceId,
      spanId: '00f067aa0ba902b7',
      traceFlags: 0,
      isRemote: true,
    });
    started.length = 0;
    const { jobId } = await context.with(unsampled, () =>
      producer.enqueue({ tenant: 'acme', queue: 'unsampled', payload: { n: 1 } }),
    );
    await eventually(async () =>
      (await producer.getJob('acme', jobId)).state === 'COMPLETED' ? true : undefined,
    );
    // The producer's span was started (and not sampled: its parent is not);
    // the worker started none, and the handler ran in the job's trace, unsampled.
    expect(started).toContain('send unsampled');
    expect(started).not.toContain('process unsampled');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ traceId, traceFlags: 0 });
    await worker.close();
  });

  it('records an expired lease on the broker span', async () => {
    exporter.reset();
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'expiring',
      timeoutMs: 100,
      maxAttempts: 1,
    });
    const worker = rota.worker({
      queues: ['expiring'],
      handler: (_job, { signal }) =>
        new Promise((resolve) => signal.addEventListener('abort', resolve)),
    });
    await worker.start();
    const dispatch = await eventually(() =>
      exporter.getFinishedSpans().find((s) => s.name === 'dispatch expiring'),
    );
    expect(dispatch.attributes['messaging.message.id']).toBe(jobId);
    expect(dispatch.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'timed out after 100 ms',
    });
  });

  it('keeps the trace of a job that waited through a broker crash', async () => {
    exporter.reset();
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'restarted', payload: {} });
    await producer.close();
    await rota.crashAndRestartBroker();
    const worker = rota.worker({ queues: ['restarted'], handler: () => 'ok' });
    await worker.start();
    const spans = await eventually(() => {
      const finished = exporter.getFinishedSpans();
      return finished.some((s) => s.name === 'process restarted') &&
        finished.some((s) => s.name === 'dispatch restarted')
        ? finished
        : undefined;
    });
    const send = spans.find((s) => s.name === 'send restarted')!;
    for (const name of ['dispatch restarted', 'process restarted']) {
      const span = spans.find((s) => s.name === name)!;
      expect(span.spanContext().traceId).toBe(send.spanContext().traceId);
      expect(parentOf(span)).toBe(send.spanContext().spanId);
      expect(span.attributes['messaging.message.id']).toBe(jobId);
    }
  });

  it('does not mark the broker span of a cancelled lease as an error', async () => {
    exporter.reset();
    const producer = rota.producer();
    const worker = rota.worker({
      queues: ['cancelled'],
      handler: (_job, { signal }) =>
        new Promise((resolve) => signal.addEventListener('abort', resolve)),
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'cancelled', payload: {} });
    await eventually(async () =>
      (await producer.getJob('acme', jobId)).state === 'LEASED' ? true : undefined,
    );
    expect(await producer.cancel('acme', jobId)).toMatchObject({ cancelled: true });
    const dispatch = await eventually(() =>
      exporter.getFinishedSpans().find((s) => s.name === 'dispatch cancelled'),
    );
    expect(dispatch.attributes['rota.outcome']).toBe('cancelled');
    // Failures, expiries and timeouts are errors (README); an operator's cancel is not.
    expect(dispatch.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('ends the broker span of a lease the broker leaves in Redis at shutdown', async () => {
    exporter.reset();
    const producer = rota.producer();
    const worker = rota.worker({
      queues: ['left'],
      handler: (_job, { signal }) =>
        new Promise((resolve) => signal.addEventListener('abort', resolve)),
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'left', payload: {} });
    await eventually(async () =>
      (await producer.getJob('acme', jobId)).state === 'LEASED' ? true : undefined,
    );
    await rota.broker.shutdown(50);
    // An unended span is never exported: the attempt vanished from the trace.
    const dispatch = exporter.getFinishedSpans().find((s) => s.name === 'dispatch left');
    expect(dispatch?.attributes['messaging.message.id']).toBe(jobId);
    expect(dispatch?.attributes['rota.outcome']).toBe('left');
    // The attempt goes on (or is recovered) elsewhere: no outcome, no error.
    expect(dispatch?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('writes the trace id into log lines written inside a span', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger('info', sink);
    const span = trace.getTracer('test').startSpan('work');
    context.with(trace.setSpan(context.active(), span), () => logger.info('inside'));
    logger.info('outside');
    span.end();
    const [inside, outside] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(inside).toMatchObject({
      msg: 'inside',
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
    });
    expect(outside!.trace_id).toBeUndefined();
  });
});

describe('hasSampledTraceContext', () => {
  it('is true only for a traceparent whose sampled flag is set', () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7';
    expect(hasSampledTraceContext({ traceparent: `${parent}-01` })).toBe(true);
    expect(hasSampledTraceContext({ traceparent: `${parent}-03` })).toBe(true);
    expect(hasSampledTraceContext({ traceparent: `${parent}-00` })).toBe(false);
    expect(hasSampledTraceContext({})).toBe(false);
  });
});
