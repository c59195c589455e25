/**
 * User code that misbehaves must not break the Worker's own bookkeeping:
 * event listeners that throw, handlers that throw values with no text, and
 * handlers that ignore their aborted signal.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { gate, useRota, waitFor, waitState } from './fixture.js';

const rota = useRota();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Node 20 ends the process on an unhandled rejection or an uncaught exception:
// each is a failure here, caught so the test can say so.
let uncaught: unknown[] = [];
const onUncaught = (reason: unknown): void => {
  uncaught.push(reason);
};
// What the Worker reports as process warnings (process.emitWarning).
let warnings: Error[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning);
};
beforeEach(() => {
  uncaught = [];
  warnings = [];
  process.on('unhandledRejection', onUncaught);
  process.on('uncaughtException', onUncaught);
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('unhandledRejection', onUncaught);
  process.off('uncaughtException', onUncaught);
  process.off('warning', onWarning);
});

describe('Worker event listeners that throw', () => {
  it.each(['completed', 'failed'] as const)(
    'acks the job and frees its slot though a `%s` listener threw',
    async (event) => {
      const producer = rota.producer();
      const worker = rota.worker({
        queues: [`throws-on-${event}`],
        concurrency: 1,
        handler: () => {
          if (event === 'failed') throw new Error('the job fails');
          return 'ok';
        },
      });
      worker.on(event, () => {
        throw new Error('bug in a metrics listener');
      });
      const errors: Error[] = [];
      worker.on('error', (error) => errors.push(error));
      await worker.start();
      const first = await producer.enqueue({
        tenant: 'acme',
        queue: `throws-on-${event}`,
        maxAttempts: 1,
      });
      const second = await producer.enqueue({
        tenant: 'acme',
        queue: `throws-on-${event}`,
        maxAttempts: 1,
      });
      const outcome = event === 'completed' ? 'COMPLETED' : 'DEAD';
      await waitState(producer, 'acme', first.jobId, outcome);
      await waitState(producer, 'acme', second.jobId, outcome);
      expect(worker.running).toBe(0);
      expect(uncaught).toEqual([]);
      expect(errors.map((e) => [e.message, (e.cause as Error).message])).toEqual([
        [
          `a Worker '${event}' listener threw: bug in a metrics listener`,
          'bug in a metrics listener',
        ],
        [
          `a Worker '${event}' listener threw: bug in a metrics listener`,
          'bug in a metrics listener',
        ],
      ]);
    },
  );

  it('reports an async listener whose promise rejects, and runs the listeners after one that threw', async () => {
    const producer = rota.producer();
    const worker = rota.worker({ queues: ['async-listener'], handler: () => 'ok' });
    const heard: string[] = [];
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the listener under test
    worker.on('completed', async () => {
      await Promise.resolve();
      throw new Error('rejected later');
    });
    worker.on('completed', () => {
      throw new Error('thrown at once');
    });
    worker.once('completed', () => heard.push('once'));
    worker.on('completed', () => heard.push('always'));
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'async-listener' });
    await waitState(producer, 'acme', jobId, 'COMPLETED');
    await waitFor(() => (errors.length === 2 ? true : undefined));
    expect(errors.map((e) => e.message).sort()).toEqual([
      "a Worker 'completed' listener threw: rejected later",
      "a Worker 'completed' listener threw: thrown at once",
    ]);
    expect(heard).toEqual(['once', 'always']);
    expect(worker.listenerCount('completed')).toBe(3);
    expect(uncaught).toEqual([]);
  });

  it('turns an error no `error` listener hears, or one an `error` listener throws, into a process warning', async () => {
    const producer = rota.producer();
    const quiet = rota.worker({ queues: ['no-error-listener'], handler: () => 'ok' });
    quiet.on('completed', () => {
      throw new Error('unheard');
    });
    const loud = rota.worker({ queues: ['error-listener-throws'], handler: () => 'ok' });
    loud.on('completed', () => {
      throw new Error('first bug');
    });
    let errorCalls = 0;
    loud.on('error', () => {
      errorCalls++;
      throw new Error('second bug');
    });
    await Promise.all([quiet.start(), loud.start()]);
    const jobs = await Promise.all([
      producer.enqueue({ tenant: 'acme', queue: 'no-error-listener' }),
      producer.enqueue({ tenant: 'acme', queue: 'error-listener-throws' }),
    ]);
    for (const { jobId } of jobs) await waitState(producer, 'acme', jobId, 'COMPLETED');
    await waitFor(() => (warnings.length === 2 ? true : undefined));
    expect(warnings.map((w) => w.message).sort()).toEqual([
      "a Worker 'completed' listener threw: unheard",
      "a Worker 'error' listener threw: second bug",
    ]);
    expect(errorCalls).toBe(1);
    expect(uncaught).toEqual([]);
  });

  it('resolves start() and sends the acks though a `connected` listener threw', async () => {
    const producer = rota.producer();
    const worker = rota.worker({ queues: ['connected-throws'], handler: () => 'ok' });
    worker.on('connected', () => {
      throw new Error('bug in a logging listener');
    });
    worker.on('error', () => undefined);
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'connected-throws' });
    await waitState(producer, 'acme', jobId, 'COMPLETED');
    expect(uncaught).toEqual([]);
  });

  it('reconnects after a broker restart though a `disconnected` listener threw', async () => {
    const producer = rota.producer();
    const worker = rota.worker({ queues: ['disconnected-throws'], handler: () => 'ok' });
    let connects = 0;
    let disconnects = 0;
    worker.on('connected', () => connects++);
    worker.on('disconnected', () => {
      disconnects++;
      throw new Error('bug in a logging listener');
    });
    worker.on('error', () => undefined);
    await worker.start();
    await rota.crashAndRestartBroker(async () => {
      await waitFor(() => (disconnects > 0 ? true : undefined));
    });
    await waitFor(() => (connects === 2 ? true : undefined));
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'disconnected-throws' });
    await waitState(producer, 'acme', jobId, 'COMPLETED');
    expect(uncaught).toEqual([]);
  });
});

describe('Worker handlers that throw a value with no text', () => {
  it.each([
    [
      'a null-prototype object',
      Object.assign(Object.create(null) as object, { code: 'E_ODD' }),
      '{"code":"E_ODD"}',
    ],
    [
      'an object JSON and String() both refuse',
      {
        size: 1n,
        toString() {
          throw new Error('no text');
        },
      },
      'a thrown object that has no text',
    ],
  ])('fails the attempt of a handler that throws %s', async (_name, thrown, lastError) => {
    const producer = rota.producer();
    const worker = rota.worker({
      queues: ['odd-throw'],
      handler: () => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the value under test
        throw thrown;
      },
    });
    const failed: unknown[] = [];
    worker.on('failed', (_job, error) => failed.push(error));
    await worker.start();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'odd-throw',
      maxAttempts: 1,
    });
    const job = await waitState(producer, 'acme', jobId, 'DEAD');
    expect(job.lastError).toBe(lastError);
    expect(failed).toEqual([thrown]);
    expect(worker.running).toBe(0);
    expect(uncaught).toEqual([]);
  });
});

describe('Worker handlers that ignore their aborted signal', () => {
  /** A worker of one slot whose first job's handler runs on after its abort, until `release`. */
  function stuckWorker(queue: string) {
    const release = gate();
    const started: string[] = [];
    let running = 0;
    let peak = 0;
    const errors: Error[] = [];
    const worker = rota.worker({
      queues: [queue],
      concurrency: 1,
      handler: async (job) => {
        started.push(job.id);
        peak = Math.max(peak, ++running);
        // Ignores ctx.signal: a CPU loop, a library without AbortSignal support.
        if (started.length === 1) await release.promise;
        running--;
        return 'done';
      },
    });
    worker.on('error', (error) => errors.push(error));
    worker.on('failed', () => undefined);
    return { worker, release, started, errors, peak: () => peak };
  }

  it('never runs more than `concurrency` handlers; a lease sent meanwhile waits for the slot', async () => {
    const producer = rota.producer();
    const { worker, release, started, peak } = stuckWorker('ignores-abort');
    await worker.start();
    const first = await producer.enqueue({
      tenant: 'acme',
      queue: 'ignores-abort',
      timeoutMs: 200,
      maxAttempts: 1,
    });
    const second = await producer.enqueue({ tenant: 'acme', queue: 'ignores-abort' });
    await waitState(producer, 'acme', first.jobId, 'DEAD');
    await waitFor(() => (worker.stuck === 1 ? true : undefined));
    await sleep(300);
    expect({ started, running: worker.running }).toEqual({ started: [first.jobId], running: 0 });
    release.open();
    await waitState(producer, 'acme', second.jobId, 'COMPLETED');
    expect({ peak: peak(), stuck: worker.stuck }).toEqual({ peak: 1, stuck: 0 });
  });

  it('tells the broker it has a slot less while the handler runs on, and reports it', async () => {
    const producer = rota.producer();
    const { worker, release, errors } = stuckWorker('stuck-credit');
    await worker.start();
    const first = await producer.enqueue({
      tenant: 'acme',
      queue: 'stuck-credit',
      timeoutMs: 200,
      maxAttempts: 1,
    });
    await waitFor(() => (errors.length > 0 ? true : undefined));
    expect(errors.map((e) => e.message)).toEqual([
      `the handler of job ${first.jobId} (tenant acme, queue stuck-credit) still runs 1000 ms after its signal aborted (timeout); until it returns it keeps one of the worker's 1 slots (worker.stuck counts these): make it stop on ctx.signal`,
    ]);
    expect(worker.stuck).toBe(1);
    const second = await producer.enqueue({ tenant: 'acme', queue: 'stuck-credit' });
    await sleep(300);
    // Not leased: the broker heard the worker's capacity is 0.
    expect((await producer.getJob('acme', second.jobId)).state).toBe('WAITING');
    release.open();
    await waitState(producer, 'acme', second.jobId, 'COMPLETED');
    expect(worker.stuck).toBe(0);
  });

  it('tells a broker it reconnects to that its slots are held', async () => {
    const producer = rota.producer();
    const { worker, release, started } = stuckWorker('stuck-reconnect');
    let connects = 0;
    worker.on('connected', () => connects++);
    await worker.start();
    await producer.enqueue({
      tenant: 'acme',
      queue: 'stuck-reconnect',
      timeoutMs: 200,
      maxAttempts: 1,
    });
    await waitFor(() => (worker.stuck === 1 ? true : undefined));
    await rota.crashAndRestartBroker();
    await waitFor(() => (connects === 2 ? true : undefined));
    const second = await producer.enqueue({ tenant: 'acme', queue: 'stuck-reconnect' });
    await sleep(300);
    expect(started).toHaveLength(1);
    expect((await producer.getJob('acme', second.jobId)).state).toBe('WAITING');
    release.open();
    await waitState(producer, 'acme', second.jobId, 'COMPLETED');
  });
});
