import { describe, expect, it, vi } from 'vitest';

import {
  JobAbortedError,
  NonRetryableError,
  RetryAfterError,
  RotaError,
} from '../../clients/errors.js';
import { reconnectDelayMs } from '../../clients/reconnect.js';
import { Worker, type HandlerContext } from '../../clients/worker.js';
import { compileWorkerOptions } from '../../clients/worker-options.js';
import { gate, useRota, waitFor, waitState } from './fixture.js';

const rota = useRota();

describe('Worker', () => {
  it('retries a throwing handler, then the job is DEAD', async () => {
    const producer = rota.producer();
    const attempts: number[] = [];
    const failed: unknown[] = [];
    const worker = rota.worker({
      queues: ['flaky'],
      handler: (job) => {
        attempts.push(job.attempt);
        throw new Error(`boom ${job.attempt}`);
      },
    });
    worker.on('failed', (_job, err) => failed.push(err));
    await worker.start();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'flaky',
      maxAttempts: 2,
      backoff: { initialMs: 10, maxMs: 20 },
    });
    const job = await waitState(producer, 'acme', jobId, 'DEAD');
    expect(attempts).toEqual([1, 2]);
    expect(job.attempts).toBe(2);
    expect(job.lastError).toBe('boom 2');
    expect(failed).toHaveLength(2);
  });

  it('sends a NonRetryableError straight to the dead letter queue', async () => {
    const producer = rota.producer();
    let calls = 0;
    const worker = rota.worker({
      queues: ['poison'],
      handler: () => {
        calls++;
        throw new NonRetryableError('bad input');
      },
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'poison', maxAttempts: 5 });
    const job = await waitState(producer, 'acme', jobId, 'DEAD');
    expect(job.attempts).toBe(1);
    expect(job.lastError).toBe('bad input');
    expect(calls).toBe(1);
  });

  it('honours RetryAfterError', async () => {
    const producer = rota.producer();
    const startedAt: number[] = [];
    const worker = rota.worker({
      queues: ['later'],
      handler: (job) => {
        startedAt.push(Date.now());
        if (job.attempt === 1) throw new RetryAfterError(600, 'rate limited upstream');
        return 'ok';
      },
    });
    await worker.start();
    // The backoff alone would retry within 10 ms.
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'later',
      maxAttempts: 3,
      backoff: { initialMs: 10, maxMs: 10 },
    });
    const retrying = await waitState(producer, 'acme', jobId, 'FAILED_RETRYING');
    expect(retrying.lastError).toBe('rate limited upstream');
    const job = await waitState(producer, 'acme', jobId, 'COMPLETED');
    expect(job.result).toBe('ok');
    expect(startedAt).toHaveLength(2);
    expect(startedAt[1]! - startedAt[0]!).toBeGreaterThanOrEqual(550);
  });

  it('retries at once after a RetryAfterError(0), not after the backoff', async () => {
    const producer = rota.producer();
    let failedAt = 0;
    const worker = rota.worker({
      queues: ['now-again'],
      handler: (job) => {
        if (job.attempt > 1) return 'ok';
        failedAt = Date.now();
        throw new RetryAfterError(0, 'try again now');
      },
    });
    await worker.start();
    // The backoff would wait anywhere up to an hour.
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'now-again',
      backoff: { initialMs: 3_600_000, maxMs: 3_600_000 },
    });
    const retried = await waitFor(async () => {
      const job = await producer.getJob('acme', jobId);
      return job.lastError === 'try again now' ? job : undefined;
    });
    expect(retried.runAt - failedAt).toBeLessThan(1000);
    expect((await waitState(producer, 'acme', jobId, 'COMPLETED')).attempts).toBe(2);
  });

  it('refuses durations past what a timer can wait (it would fire after 1 ms, in a loop)', () => {
    const options = { queues: ['q'], handler: () => undefined };
    const month = 30 * 24 * 3_600_000;
    expect(() => compileWorkerOptions({ ...options, shutdownGraceMs: month })).toThrow(
      'Worker: shutdownGraceMs must be a number from 0 to 2147483647 (24.8 days), got 2592000000',
    );
    expect(() => compileWorkerOptions({ ...options, reconnect: { maxMs: month } })).toThrow(
      'Worker: reconnect.maxMs must be a number from 100 to 2147483647 (24.8 days), got 2592000000',
    );
    expect(compileWorkerOptions({ ...options, shutdownGraceMs: 2 ** 31 - 1 }).shutdownGraceMs).toBe(
      2 ** 31 - 1,
    );
  });

  it('refuses a reconnect backoff that would retry a broker that is down (or refusing) in a tight loop', () => {
    const options = { queues: ['q'], handler: () => undefined };
    expect(() => new Worker({ ...options, reconnect: { initialMs: 0, maxMs: 0 } })).toThrow(
      new TypeError(
        'Worker: reconnect.maxMs must be a number from 100 to 2147483647 (24.8 days), got 0',
      ),
    );
    // The jitter spreads the delay from initialMs up: from 0 it stays 0, whatever maxMs is.
    expect(reconnectDelayMs(5, 0, 5000, () => 1)).toBe(0);
    expect(() => new Worker({ ...options, reconnect: { initialMs: 0, maxMs: 5000 } })).toThrow(
      new TypeError(
        'Worker: reconnect.initialMs must be a number from 10 to 2147483647 (24.8 days), got 0',
      ),
    );
    // 1 ms was taken: a worker whose Hello a broker refuses (its session limit
    // reached) sent it again a thousand times a second.
    expect(() => new Worker({ ...options, reconnect: { initialMs: 1, maxMs: 1 } })).toThrow(
      new TypeError(
        'Worker: reconnect.maxMs must be a number from 100 to 2147483647 (24.8 days), got 1',
      ),
    );
    expect(() => new Worker({ ...options, reconnect: { initialMs: 9 } })).toThrow(
      new TypeError(
        'Worker: reconnect.initialMs must be a number from 10 to 2147483647 (24.8 days), got 9',
      ),
    );
    expect(
      compileWorkerOptions({ ...options, reconnect: { initialMs: 10, maxMs: 100 } }),
    ).toMatchObject({ reconnectInitialMs: 10, reconnectMaxMs: 100 });
  });

  // A string from JavaScript was spread into its letters: tenants 'acme' served tenants a, c, m, e.
  it('refuses queues, tenants and shutdownSignals that are not arrays of strings', () => {
    const options = { queues: ['q'], handler: () => undefined };
    const bad = (value: unknown): string[] => value as string[];
    expect(() => new Worker({ ...options, tenants: bad('acme') })).toThrow(
      new TypeError(
        'Worker: tenants must be an array of strings, got the string "acme": write ["acme"]',
      ),
    );
    expect(() => new Worker({ ...options, queues: bad('email') })).toThrow(
      new TypeError(
        'Worker: queues must be an array of strings, got the string "email": write ["email"]',
      ),
    );
    expect(() =>
      compileWorkerOptions({ ...options, shutdownSignals: bad('SIGTERM') as NodeJS.Signals[] }),
    ).toThrow(
      new TypeError(
        'Worker: shutdownSignals must be an array of strings, got the string "SIGTERM": write ["SIGTERM"]',
      ),
    );
    expect(() => compileWorkerOptions({ ...options, tenants: bad(new Set(['acme'])) })).toThrow(
      new TypeError('Worker: tenants must be an array of strings, got object'),
    );
    expect(() => compileWorkerOptions({ ...options, tenants: bad(['acme', 7]) })).toThrow(
      new TypeError('Worker: tenants[1] must be a string, got number'),
    );
    expect(() => compileWorkerOptions({ ...options, queues: [] })).toThrow(
      new TypeError('Worker: queues must name at least one queue'),
    );
    expect(compileWorkerOptions({ ...options, tenants: ['acme'] }).tenants).toEqual(['acme']);
  });

  it('refuses a concurrency its wire field would wrap (2^32 + 1 would be sent as 1)', () => {
    const options = { queues: ['q'], handler: () => undefined };
    expect(() => compileWorkerOptions({ ...options, concurrency: 2 ** 32 + 1 })).toThrow(
      'Worker: concurrency must be an integer from 0 to 4294967295, got 4294967297',
    );
    expect(() => compileWorkerOptions({ ...options, concurrency: 0 })).toThrow(
      'Worker: concurrency must be an integer ≥ 1, got 0',
    );
    expect(compileWorkerOptions({ ...options, concurrency: 7 }).concurrency).toBe(7);
  });

  // From process.env: '5000' passed the range checks (compared as a number) and
  // was then misread, a reconnect delay of '100' + 0.5 × 900 waiting '100450' ms.
  it('refuses numbers given as strings, naming them as strings', () => {
    const options = { queues: ['q'], handler: () => undefined };
    const text = (value: string): number => value as unknown as number;
    expect(() => compileWorkerOptions({ ...options, shutdownGraceMs: text('5000') })).toThrow(
      new TypeError(
        'Worker: shutdownGraceMs must be a number from 0 to 2147483647 (24.8 days), got the string "5000"',
      ),
    );
    expect(() =>
      compileWorkerOptions({ ...options, reconnect: { initialMs: text('100'), maxMs: 5000 } }),
    ).toThrow(
      new TypeError(
        'Worker: reconnect.initialMs must be a number from 10 to 2147483647 (24.8 days), got the string "100"',
      ),
    );
    // refused before too, as "got 8", which read as a valid concurrency
    expect(() => compileWorkerOptions({ ...options, concurrency: text('8') })).toThrow(
      new TypeError('Worker: concurrency must be an integer ≥ 1, got the string "8"'),
    );
  });

  // Node.js took 'TERM' as a plain event that never comes (SIGTERM then killed
  // the worker without draining), and threw out of start() for SIGKILL.
  it('refuses shutdownSignals a process cannot catch', () => {
    const options = { queues: ['q'], handler: () => undefined };
    const signals = (...names: string[]): NodeJS.Signals[] => names as NodeJS.Signals[];
    for (const name of ['TERM', 'sigterm', 'SIGKILL']) {
      expect(() =>
        compileWorkerOptions({ ...options, shutdownSignals: signals('SIGINT', name) }),
      ).toThrow(
        new TypeError(
          `Worker: shutdownSignals[1] is "${name}", not a signal this process can catch (names look like 'SIGTERM'; SIGKILL and SIGSTOP cannot be caught)`,
        ),
      );
    }
    expect(
      compileWorkerOptions({ ...options, shutdownSignals: ['SIGHUP', 'SIGUSR2'] }).shutdownSignals,
    ).toEqual(['SIGHUP', 'SIGUSR2']);
  });

  it('refuses a reconnect that is not an object, which was ignored', () => {
    const options = { queues: ['q'], handler: () => undefined };
    expect(() => compileWorkerOptions({ ...options, reconnect: 5000 as never })).toThrow(
      new TypeError('Worker: reconnect must be an object, got number'),
    );
  });

  it('refuses a RetryAfterError delay the broker would refuse', () => {
    for (const bad of [-1, Number.NaN, 366 * 86_400_000]) {
      expect(() => new RetryAfterError(bad)).toThrow(
        `RetryAfterError: retryAfterMs must be a number from 0 to 31536000000 (365 days), got ${bad}`,
      );
    }
    expect(new RetryAfterError(365 * 86_400_000).retryAfterMs).toBe(31_536_000_000);
  });

  it('makes progress visible in getJob while the handler runs', async () => {
    const producer = rota.producer();
    const release = gate();
    const worker = rota.worker({
      queues: ['report'],
      handler: async (_job, ctx) => {
        await ctx.progress({ done: 1, of: 3 });
        await ctx.progress({ done: 2, of: 3 }); // same tick as nothing else: sent on its own
        await release.promise;
        return 'finished';
      },
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'report' });
    const running = await waitFor(async () => {
      const job = await producer.getJob('acme', jobId);
      return job.state === 'LEASED' && (job.progress as { done?: number } | undefined)?.done === 2
        ? job
        : undefined;
    });
    expect(running.progress).toEqual({ done: 2, of: 3 });
    release.open();
    expect((await waitState(producer, 'acme', jobId, 'COMPLETED')).result).toBe('finished');
  });

  it('gives every job a context of one shape: signal from the prototype, progress usable detached', async () => {
    const producer = rota.producer();
    const contexts: HandlerContext[] = [];
    const worker = rota.worker({
      queues: ['shapes'],
      handler: async (_job, ctx) => {
        contexts.push(ctx);
        const { progress, attempt, signal } = ctx;
        await progress({ attempt });
        return signal.aborted;
      },
    });
    await worker.start();
    const ids = await Promise.all(
      [1, 2].map(async () => (await producer.enqueue({ tenant: 'acme', queue: 'shapes' })).jobId),
    );
    for (const id of ids) {
      const job = await waitState(producer, 'acme', id, 'COMPLETED');
      expect(job.result).toBe(false);
      expect(job.progress).toEqual({ attempt: 1 });
    }
    // An own getter per job (an object literal's) gave each job a hidden class of its own.
    const [first, second] = contexts;
    expect(Object.getOwnPropertyDescriptor(first!, 'signal')).toBeUndefined();
    expect(Object.getPrototypeOf(first)).toBe(Object.getPrototypeOf(second));
  });

  it('keeps the progress a handler reports right before it returns', async () => {
    const producer = rota.producer();
    const worker = rota.worker({
      queues: ['last-progress'],
      concurrency: 50,
      handler: async (job, ctx) => {
        await ctx.progress({ step: 'rendered' });
        await new Promise((resolve) => setTimeout(resolve, 20));
        // Sent just ahead of the ack, or in the same flush: either way it must be stored first.
        if ((job.payload as { i: number }).i % 2 === 0) await ctx.progress({ step: 'sent' });
        else void ctx.progress({ step: 'sent' });
        return 'done';
      },
    });
    await worker.start();
    const jobs = await producer.enqueueBatch(
      Array.from({ length: 300 }, (_, i) => ({
        tenant: 'acme',
        queue: 'last-progress',
        payload: { i },
      })),
    );
    const lastProgress = new Map<string, unknown>();
    for (const item of jobs) {
      if (!('jobId' in item)) throw item.error;
      const job = await waitState(producer, 'acme', item.jobId, 'COMPLETED');
      lastProgress.set(item.jobId, job.progress);
    }
    const notSent = [...lastProgress].filter(
      ([, progress]) => (progress as { step?: string })?.step !== 'sent',
    );
    expect(notSent).toEqual([]);
  });

  it('rejects a progress over 64 KiB to the handler that awaits it; the job runs on', async () => {
    const producer = rota.producer();
    const errors: Error[] = [];
    const refused = gate<unknown>();
    const release = gate();
    const worker = rota.worker({
      queues: ['big-progress'],
      handler: async (_job, ctx) => {
        await ctx.progress({ step: 1 });
        const big = 'x'.repeat(64 * 1024); // JSON adds its quotes
        refused.open(
          await ctx.progress(big).then(
            () => undefined,
            (error: unknown) => error,
          ),
        );
        // Not awaited: no unhandled rejection (it would end the process); 'error' tells.
        void ctx.progress(Buffer.alloc(64 * 1024 + 1));
        await release.promise;
        return 'done';
      },
    });
    worker.on('error', (error) => errors.push(error));
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'big-progress' });
    const error = await refused.promise;
    expect(error).toBeInstanceOf(RotaError);
    expect((error as RotaError).codeName).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toBe(
      `progress of job ${jobId} is 65538 bytes; the limit is 65536: not sent`,
    );
    await waitFor(() => (errors.length === 2 ? true : undefined));
    expect(errors[0]).toBe(error);
    expect(errors[1]!.message).toBe(
      `progress of job ${jobId} is 65537 bytes; the limit is 65536: not sent`,
    );
    expect((await producer.getJob('acme', jobId)).progress).toEqual({ step: 1 });
    release.open();
    expect((await waitState(producer, 'acme', jobId, 'COMPLETED')).result).toBe('done');
  });

  it('rejects a progress that cannot be encoded as JSON to the handler that awaits it; the job runs on', async () => {
    const producer = rota.producer();
    const errors: Error[] = [];
    const refused = gate<unknown>();
    const worker = rota.worker({
      queues: ['unencodable-progress'],
      handler: async (_job, ctx) => {
        await ctx.progress({ step: 1 });
        try {
          refused.open(await ctx.progress(10n).catch((error: unknown) => error));
        } catch (thrown) {
          refused.open({ thrown }); // a promise's .catch() never sees this
        }
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        // Not awaited: no unhandled rejection (it would end the process); 'error' tells.
        void ctx.progress(circular);
        return 'done';
      },
    });
    worker.on('error', (error) => errors.push(error));
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'unencodable-progress' });
    const error = await refused.promise;
    expect(error).toBeInstanceOf(RotaError);
    expect((error as RotaError).codeName).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toBe(
      `progress of job ${jobId} cannot be encoded as JSON, not sent: value is not JSON-serializable: Do not know how to serialize a BigInt`,
    );
    const job = await waitState(producer, 'acme', jobId, 'COMPLETED');
    expect(job.result).toBe('done');
    expect(job.progress).toEqual({ step: 1 });
    await waitFor(() => (errors.length === 2 ? true : undefined));
    expect(errors[0]).toBe(error);
    expect(errors[1]!.message).toMatch(
      new RegExp(`^progress of job ${jobId} cannot be encoded as JSON, not sent: .*circular`),
    );
  });

  it('fails a job whose handler returns a result that cannot be encoded as JSON, without retrying it', async () => {
    const producer = rota.producer();
    const worker = rota.worker({ queues: ['unencodable-result'], handler: () => 10n });
    await worker.start();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'unencodable-result',
      maxAttempts: 3,
    });
    const job = await waitState(producer, 'acme', jobId, 'DEAD');
    expect(job.attempts).toBe(1);
    expect(job.lastError).toBe(
      'result: value is not JSON-serializable: Do not know how to serialize a BigInt',
    );
  });

  // Producers in other languages write the bytes and the content-type themselves.
  it('sends a job whose payload is declared JSON but does not parse straight to the dead letter queue, without calling the handler', async () => {
    const producer = rota.producer();
    let calls = 0;
    const failed: unknown[] = [];
    const worker = rota.worker({
      queues: ['bad-json'],
      handler: () => {
        calls++;
      },
    });
    worker.on('failed', (_job, error) => failed.push(error));
    await worker.start();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'bad-json',
      payload: Buffer.from('{"to": "ann'),
      headers: { 'Content-Type': 'application/vnd.acme+json' },
      maxAttempts: 3,
    });
    const job = await waitState(producer, 'acme', jobId, 'DEAD');
    expect(job.attempts).toBe(1);
    expect(job.lastError).toMatch(/^payload is not valid JSON: .*JSON/);
    expect(calls).toBe(0);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toBeInstanceOf(NonRetryableError);
  });

  it('aborts the signal of a running job that is cancelled', async () => {
    const producer = rota.producer();
    const started = gate<AbortSignal>();
    const acks: unknown[] = [];
    const worker = rota.worker({
      queues: ['long'],
      handler: (_job, ctx) => {
        started.open(ctx.signal);
        return new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)),
        );
      },
    });
    worker.on('error', (err) => acks.push(err));
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'long' });
    const signal = await started.promise;
    expect(signal.aborted).toBe(false);
    expect(await producer.cancel('acme', jobId)).toEqual({ cancelled: true, state: 'CANCELLED' });
    await waitFor(() => (signal.aborted ? true : undefined));
    expect(signal.reason).toBeInstanceOf(JobAbortedError);
    expect((signal.reason as Error).message).toBe('cancelled');
    // No ack is sent for it, so the broker refuses nothing.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(acks).toEqual([]);
    expect((await producer.getJob('acme', jobId)).state).toBe('CANCELLED');
  });

  it('hands an aborted signal to a handler that first reads it after the cancel', async () => {
    const producer = rota.producer();
    const started = gate<void>();
    const cancelled = gate<void>();
    const seen = gate<{ aborted: boolean; reason: unknown }>();
    const worker = rota.worker({
      queues: ['late'],
      handler: async (_job, ctx) => {
        started.open();
        await cancelled.promise; // the signal is made on first use: not yet
        seen.open({ aborted: ctx.signal.aborted, reason: ctx.signal.reason });
      },
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'late' });
    await started.promise;
    expect(await producer.cancel('acme', jobId)).toEqual({ cancelled: true, state: 'CANCELLED' });
    const failed = new Promise((resolve) => worker.once('failed', (_job, error) => resolve(error)));
    // the broker's Cancel reaches the worker, which drops the job; then the handler looks
    await waitFor(() => (worker.running === 0 ? true : undefined));
    cancelled.open();
    const { aborted, reason } = await seen.promise;
    expect(aborted).toBe(true);
    expect(reason).toBeInstanceOf(JobAbortedError);
    expect((reason as Error).message).toBe('cancelled');
    expect(await failed).toBe(reason);
  });

  it('aborts the signal when the job’s timeoutMs passes', async () => {
    const producer = rota.producer();
    const aborted = gate<{ reason: unknown; elapsed: number; deadline: number | undefined }>();
    const worker = rota.worker({
      queues: ['slow'],
      handler: (job, ctx) => {
        const start = Date.now();
        ctx.signal.addEventListener('abort', () =>
          aborted.open({
            reason: ctx.signal.reason,
            elapsed: Date.now() - start,
            deadline: job.deadline,
          }),
        );
        return new Promise(() => undefined); // never settles by itself
      },
    });
    await worker.start();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'slow',
      timeoutMs: 300,
      maxAttempts: 1,
    });
    const { reason, elapsed, deadline } = await aborted.promise;
    expect(reason).toBeInstanceOf(JobAbortedError);
    expect((reason as Error).message).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(deadline).toBeGreaterThan(0);
    const job = await waitState(producer, 'acme', jobId, 'DEAD');
    expect(job.lastError).toMatch(/timed out/);
  });

  it('times a job by its own clock, so a clock ahead of the broker’s does not abort it', async () => {
    const producer = rota.producer();
    const realNow = Date.now.bind(Date);
    // The broker took Date.now when it started; from here on only the client side runs ahead.
    const ahead = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 10 * 60_000);
    try {
      const seen = gate<{ aborted: boolean; deadline: number | undefined; at: number }>();
      const worker = rota.worker({
        queues: ['skewed'],
        handler: async (job, ctx) => {
          await new Promise((resolve) => setTimeout(resolve, 100));
          seen.open({ aborted: ctx.signal.aborted, deadline: job.deadline, at: Date.now() });
          return 'done';
        },
      });
      await worker.start();
      const { jobId } = await producer.enqueue({
        tenant: 'acme',
        queue: 'skewed',
        timeoutMs: 5000,
        maxAttempts: 1,
      });
      const { aborted, deadline, at } = await seen.promise;
      expect(aborted).toBe(false);
      expect(deadline).toBeGreaterThan(at);
      expect(deadline).toBeLessThanOrEqual(at + 5000);
      const job = await waitState(producer, 'acme', jobId, 'COMPLETED');
      expect(job.attempts).toBe(1);
    } finally {
      ahead.mockRestore();
    }
  });

  it('start() twice waits for the one Welcome; start() once closed rejects, whether it ran or not', async () => {
    const worker = rota.worker({ queues: ['start-twice'], handler: () => undefined });
    const first = worker.start();
    expect(worker.start()).toBe(first);
    await first;
    expect(worker.state).toBe('RUNNING');
    await worker.close();
    const closed = { codeName: 'FAILED_PRECONDITION', message: 'the Worker is closed' };
    await expect(worker.start()).rejects.toMatchObject(closed);
    expect(worker.state).toBe('STOPPED');

    const never = rota.worker({ queues: ['start-twice'], handler: () => undefined });
    await never.close();
    await expect(never.start()).rejects.toMatchObject(closed);
  });

  it('close() waits for a running handler and reports its outcome', async () => {
    const producer = rota.producer();
    const started = gate();
    const completed: string[] = [];
    const worker = rota.worker({
      queues: ['drain'],
      shutdownGraceMs: 5000,
      handler: async (job) => {
        started.open();
        await new Promise((resolve) => setTimeout(resolve, 400));
        return `done ${job.id}`;
      },
    });
    worker.on('completed', (job) => completed.push(job.id));
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'drain' });
    await started.promise;
    const closingAt = Date.now();
    await worker.close();
    expect(Date.now() - closingAt).toBeGreaterThanOrEqual(300);
    expect(worker.state).toBe('STOPPED');
    expect(completed).toEqual([jobId]);
    const job = await waitState(producer, 'acme', jobId, 'COMPLETED');
    expect(job.result).toBe(`done ${jobId}`);
  });

  it('close() aborts a handler that outlives the grace period', async () => {
    const producer = rota.producer();
    const started = gate<AbortSignal>();
    const worker = rota.worker({
      queues: ['stuck'],
      shutdownGraceMs: 200,
      handler: (_job, ctx) => {
        started.open(ctx.signal);
        return new Promise(() => undefined);
      },
    });
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'stuck' });
    const signal = await started.promise;
    await worker.close();
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('shutdown');
    // Left to the broker: still leased until its lease expires.
    expect((await producer.getJob('acme', jobId)).state).toBe('LEASED');
  });

  it('runs at most `concurrency` handlers at once', async () => {
    const producer = rota.producer();
    let running = 0;
    let peak = 0;
    const worker = rota.worker({
      queues: ['busy'],
      concurrency: 3,
      handler: async () => {
        peak = Math.max(peak, ++running);
        await new Promise((resolve) => setTimeout(resolve, 30));
        running--;
      },
    });
    await worker.start();
    const results = await producer.enqueueBatch(
      Array.from({ length: 12 }, () => ({ tenant: 'acme', queue: 'busy' })),
    );
    for (const r of results) {
      if (!('jobId' in r)) throw r.error;
      await waitState(producer, 'acme', r.jobId, 'COMPLETED');
    }
    expect(peak).toBe(3);
  });

  // A handler may hold its job for minutes: the payload must not keep alive
  // the whole message its lease arrived in, with the other jobs' payloads.
  it('hands each job a payload of its own, not a view into the lease message', async () => {
    const producer = rota.producer();
    const size = 8192; // past Buffer's pool: a copy gets a backing store of its own size
    const sent = [1, 2, 3].map((fill) => Buffer.alloc(size, fill));
    // Queued before the worker connects, so its first lease message carries all three.
    const ids = (
      await producer.enqueueBatch(
        sent.map((payload) => ({ tenant: 'acme', queue: 'bulky', payload })),
      )
    ).map((item) => (item as { jobId: string }).jobId);
    const received = new Map<string, { payload: unknown; raw: Buffer }>();
    const worker = rota.worker({
      queues: ['bulky'],
      concurrency: 3,
      handler: (job) => {
        received.set(job.id, { payload: job.payload, raw: job.rawPayload });
      },
    });
    await worker.start();
    await waitFor(() => (received.size === 3 ? true : undefined));
    ids.forEach((id, i) => {
      const { payload, raw } = received.get(id)!;
      expect(raw.equals(sent[i]!)).toBe(true);
      expect(payload).toBe(raw); // bytes are handed over as they are
      expect(raw.buffer.byteLength).toBeLessThan(2 * size);
    });
  });
});
