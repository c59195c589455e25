import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { JobAbortedError } from '../../clients/errors.js';
import { reconnectDelayMs } from '../../clients/reconnect.js';
import { Producer } from '../../clients/producer.js';
import { Worker, type HandlerContext } from '../../clients/worker.js';
import { startStallingProxy } from '../helpers/stalling-proxy.js';
import { gate, useRota, waitFor, completed } from './fixture.js';

const rota = useRota();

describe('reconnectDelayMs', () => {
  it('grows exponentially from initialMs, capped at maxMs, with full jitter', () => {
    expect(reconnectDelayMs(0, 100, 5000, () => 0)).toBe(100);
    expect(reconnectDelayMs(0, 100, 5000, () => 1)).toBe(200);
    expect(reconnectDelayMs(3, 100, 5000, () => 1)).toBe(1600);
    expect(reconnectDelayMs(20, 100, 5000, () => 1)).toBe(5000);
    expect(reconnectDelayMs(20, 100, 5000, () => 0)).toBe(100);
    expect(reconnectDelayMs(2000, 100, 5000, () => 0.5)).toBe(2550);
  });
});

describe('Worker reconnect', () => {
  it('re-attaches its running job after the broker crashes and restarts', async () => {
    const producer = rota.producer();
    const started = gate();
    const release = gate();
    let calls = 0;
    const aborts: unknown[] = [];
    const worker = rota.worker({
      queues: ['reattach'],
      handler: async (_job, ctx) => {
        calls++;
        ctx.signal.addEventListener('abort', () => aborts.push(ctx.signal.reason));
        started.open();
        await release.promise;
        return 'survived';
      },
    });
    const connected: Array<{ reattachedJobIds: string[]; refusedJobIds: string[] }> = [];
    let disconnects = 0;
    worker.on('connected', (info) => connected.push(info));
    worker.on('disconnected', () => disconnects++);
    worker.on('error', () => undefined); // reconnect failures while the broker is down
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'reattach' });
    await started.promise;

    await rota.crashAndRestartBroker(async () => {
      await waitFor(() => (disconnects > 0 ? true : undefined));
      // Let the worker fail a few reconnects against the dead address.
      await new Promise((resolve) => setTimeout(resolve, 150));
    });
    const second = await waitFor(() => connected[1]);
    expect(second.reattachedJobIds).toEqual([jobId]);
    expect(second.refusedJobIds).toEqual([]);

    release.open();
    // The producer's channel reconnects by itself to the same address.
    const job = await completed(producer, 'acme', jobId);
    expect(job.result).toBe('survived');
    expect(job.attempts).toBe(1);
    expect(calls).toBe(1);
    expect(aborts).toEqual([]);
  });

  it('sends acks produced while disconnected after the reconnect', async () => {
    const producer = rota.producer();
    const started = gate();
    const release = gate();
    const worker = rota.worker({
      queues: ['offline-ack'],
      handler: async () => {
        started.open();
        await release.promise;
        return 42;
      },
    });
    let disconnects = 0;
    worker.on('disconnected', () => disconnects++);
    worker.on('error', () => undefined);
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'offline-ack' });
    await started.promise;
    await rota.crashAndRestartBroker(async () => {
      await waitFor(() => (disconnects > 0 ? true : undefined));
      release.open(); // finishes while no broker is there
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    const job = await completed(producer, 'acme', jobId);
    expect(job.result).toBe(42);
    expect(job.attempts).toBe(1);
  });

  it('settles ctx.progress() when the session ends before the progress went out; sends it after the reconnect', async () => {
    const producer = rota.producer();
    // Work calls go through this: the test cuts the session, and fails the
    // reconnects at once while `blocked`.
    let work: grpc.InterceptingCall | undefined;
    let blocked = false;
    let refused = 0;
    const interceptor: grpc.Interceptor = (options, nextCall) => {
      const call = new grpc.InterceptingCall(nextCall(options));
      if (options.method_definition.path === '/rota.v1.Broker/Work') {
        work = call;
        if (blocked) {
          refused++;
          setImmediate(() => call.cancelWithStatus(grpc.status.UNAVAILABLE, 'blocked by the test'));
        }
      }
      return call;
    };
    const started = gate<HandlerContext>();
    const release = gate();
    const worker = rota.worker({
      queues: ['cut-progress'],
      interceptors: [interceptor],
      handler: async (_job, ctx) => {
        started.open(ctx);
        await release.promise;
        return 'done';
      },
    });
    worker.on('error', () => undefined);
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'cut-progress' });
    const ctx = await started.promise;
    let settled: unknown = 'pending';
    // Queued for the flush, and the session ends before it runs.
    ctx.progress({ step: 'cut' }).then(
      () => (settled = 'resolved'),
      (error: unknown) => (settled = error),
    );
    blocked = true;
    work!.cancelWithStatus(grpc.status.UNAVAILABLE, 'cut by the test');
    await waitFor(() => (refused >= 3 ? true : undefined));
    // Best effort, as a progress reported while disconnected: not held up by the reconnect.
    expect(settled).toBe('resolved');
    blocked = false;
    await waitFor(async () => {
      const job = await producer.getJob('acme', jobId);
      return (job.progress as { step?: string } | undefined)?.step === 'cut' ? true : undefined;
    });
    release.open();
    await waitFor(async () =>
      (await producer.getJob('acme', jobId)).state === 'COMPLETED' ? true : undefined,
    );
  });

  it('close() while the broker is down reconnects to report a job that finishes within the grace', async () => {
    const producer = rota.producer();
    const started = gate();
    const release = gate();
    let calls = 0;
    const aborts: unknown[] = [];
    const worker = rota.worker({
      queues: ['close-offline'],
      shutdownGraceMs: 10_000,
      handler: async (_job, ctx) => {
        calls++;
        ctx.signal.addEventListener('abort', () => aborts.push(ctx.signal.reason));
        started.open();
        await release.promise;
        return 'reported';
      },
    });
    let disconnects = 0;
    worker.on('disconnected', () => disconnects++);
    worker.on('error', () => undefined);
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'close-offline' });
    await started.promise;
    let closing: Promise<void> | undefined;
    await rota.crashAndRestartBroker(async () => {
      await waitFor(() => (disconnects > 0 ? true : undefined));
      closing = worker.close();
      release.open(); // finishes while no broker is there
      await new Promise((resolve) => setTimeout(resolve, 150));
    });
    await closing;
    expect(worker.state).toBe('STOPPED');
    const job = await completed(producer, 'acme', jobId);
    expect(job.result).toBe('reported');
    expect(job.attempts).toBe(1);
    expect(calls).toBe(1);
    expect(aborts).toEqual([]);
  });

  it('close() while the broker is down stops reconnecting when the grace is over', async () => {
    const producer = rota.producer();
    const started = gate();
    const aborts: unknown[] = [];
    const worker = rota.worker({
      queues: ['close-offline-long'],
      shutdownGraceMs: 300,
      handler: (_job, ctx) => {
        started.open();
        return new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborts.push(ctx.signal.reason);
            reject(ctx.signal.reason as Error);
          }),
        );
      },
    });
    let connects = 0;
    let disconnects = 0;
    worker.on('connected', () => connects++);
    worker.on('disconnected', () => disconnects++);
    worker.on('error', () => undefined);
    await worker.start();
    await producer.enqueue({ tenant: 'acme', queue: 'close-offline-long' });
    await started.promise;
    await rota.crashAndRestartBroker(async () => {
      await waitFor(() => (disconnects > 0 ? true : undefined));
      await worker.close();
    });
    expect(worker.state).toBe('STOPPED');
    expect(aborts).toHaveLength(1);
    expect(aborts[0]).toBeInstanceOf(JobAbortedError);
    expect((aborts[0] as Error).message).toBe('shutdown');
    // A reconnect still pending would have found the restarted broker by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(connects).toBe(1);
  });

  it('start() rejects when the broker refuses the Hello', async () => {
    const worker = new Worker({
      address: rota.address,
      queues: ['not a queue name!'],
      handler: () => undefined,
    });
    await expect(worker.start()).rejects.toMatchObject({ codeName: 'INVALID_ARGUMENT' });
    await worker.close();
    expect(worker.state).toBe('STOPPED');
  });

  it('leaves a broker that went silent without closing the connection, and reconnects', async () => {
    const proxy = await startStallingProxy(rota.address);
    const ran: string[] = [];
    const worker = new Worker({
      address: proxy.address,
      queues: ['silent-broker'],
      reconnect: { initialMs: 20, maxMs: 200 },
      shutdownGraceMs: 500,
      handler: (job) => void ran.push(job.id),
    });
    let disconnects = 0;
    worker.on('disconnected', () => disconnects++);
    worker.on('error', () => undefined);
    try {
      await worker.start();
      proxy.stall();
      // The broker drops the silent session after its lease TTL (1.5 s); the
      // worker must notice the silence as well, not wait for TCP to give up.
      await waitFor(() => (disconnects > 0 ? true : undefined), { timeoutMs: 8000 });
      const { jobId } = await rota.producer().enqueue({ tenant: 'acme', queue: 'silent-broker' });
      await waitFor(() => (ran.includes(jobId) ? true : undefined));
    } finally {
      await worker.close();
      proxy.close();
    }
  });
});

describe('Producer reconnect', () => {
  it('opens a new enqueue stream after the broker crashes and restarts', async () => {
    const producer = rota.producer();
    const before = await producer.enqueue({ tenant: 'acme', queue: 'producer-reconnect' });
    let duringOutage: unknown;
    await rota.crashAndRestartBroker(async () => {
      duringOutage = await producer.enqueue({ tenant: 'acme', queue: 'producer-reconnect' }).then(
        () => undefined,
        (error: unknown) => error,
      );
    });
    expect(duringOutage).toMatchObject({ codeName: 'UNAVAILABLE' });
    const after = await waitFor(() =>
      producer.enqueue({ tenant: 'acme', queue: 'producer-reconnect' }).catch(() => undefined),
    );
    expect(after.jobId).not.toBe(before.jobId);
    expect((await producer.getJob('acme', after.jobId)).state).toBe('WAITING');
  });

  it('fails the calls of a broker gone silent with UNAVAILABLE, without a deadline, and goes on', async () => {
    const proxy = await startStallingProxy(rota.address);
    const producer = new Producer({ address: proxy.address });
    try {
      await producer.enqueue({ tenant: 'acme', queue: 'silent-producer' });
      proxy.stall();
      // Without keepalive pings this waited for TCP to give up (many minutes).
      const error = await producer.enqueue({ tenant: 'acme', queue: 'silent-producer' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ codeName: 'UNAVAILABLE' });
      const after = await producer.enqueue({ tenant: 'acme', queue: 'silent-producer' });
      expect((await producer.getJob('acme', after.jobId)).state).toBe('WAITING');
    } finally {
      await producer.close();
      proxy.close();
    }
  }, 60_000);
});
