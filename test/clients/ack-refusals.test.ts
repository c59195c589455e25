/**
 * Acks the broker refuses: the Worker reports each as an AckRefusedError on
 * 'error', whether the refusal comes in the Welcome of a reconnect (an ack
 * queued while disconnected, for a lease that is gone) or in an AckResult on
 * a live session.
 */
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';

import { AckRefusedError } from '../../clients/errors.js';
import { completed, gate, useRota, waitFor } from './fixture.js';

const rota = useRota();

const WORK = '/rota.v1.Broker/Work';

/**
 * Work calls go through `interceptor`: cut() ends the open one, and while
 * `blocked` a new one fails without starting. Why not cancel it once started,
 * as reconnect.test.ts does: its Hello may reach the broker first, and would
 * re-attach the orphaned lease, renewing it, so it might never expire.
 */
function workCutter(): {
  readonly interceptor: grpc.Interceptor;
  blocked: boolean;
  /** Work calls failed while blocked. */
  readonly refused: number;
  cut(): void;
} {
  let work: grpc.InterceptingCall | undefined;
  let refused = 0;
  const interceptor: grpc.Interceptor = (options, nextCall) => {
    const next = nextCall(options);
    if (options.method_definition.path !== WORK) return new grpc.InterceptingCall(next);
    if (!cutter.blocked) return (work = new grpc.InterceptingCall(next));
    refused++;
    return new grpc.InterceptingCall(next, {
      start: (_metadata, listener) => {
        // Never started, it still counts as a call of the channel until it ends.
        next.cancelWithStatus(grpc.status.UNAVAILABLE, 'blocked by the test');
        setImmediate(() =>
          listener.onReceiveStatus({
            code: grpc.status.UNAVAILABLE,
            details: 'blocked by the test',
            metadata: new grpc.Metadata(),
          }),
        );
      },
    });
  };
  const cutter = {
    interceptor,
    blocked: false,
    get refused() {
      return refused;
    },
    cut: () => work!.cancelWithStatus(grpc.status.UNAVAILABLE, 'cut by the test'),
  };
  return cutter;
}

describe('Worker ack refusals', () => {
  it('reports an ack queued while disconnected whose lease the Welcome refuses, and drops it', async () => {
    const producer = rota.producer();
    const cutter = workCutter();
    const started = gate();
    const release = gate();
    const ran: string[] = [];
    const first = rota.worker({
      queues: ['refused-on-welcome'],
      interceptors: [cutter.interceptor],
      handler: async (job) => {
        ran.push(job.id);
        if (ran.length > 1) return 'later';
        started.open();
        await release.promise;
        return 'first';
      },
    });
    const connected: Array<{ reattachedJobIds: string[]; refusedJobIds: string[] }> = [];
    const refusals: Error[] = [];
    const finished: string[] = [];
    first.on('connected', (info) => connected.push(info));
    // The other errors are the session cut and the blocked reconnects.
    first.on('error', (error) => {
      if (error instanceof AckRefusedError) refusals.push(error);
    });
    first.on('completed', (job) => finished.push(job.id));
    await first.start();
    const { jobId } = await producer.enqueue({
      tenant: 'acme',
      queue: 'refused-on-welcome',
      backoff: { initialMs: 10, maxMs: 10 },
    });
    await started.promise;

    cutter.blocked = true;
    cutter.cut();
    // Its lease orphaned, then expired a lease TTL later: the retry goes to the
    // only worker connected.
    const second = rota.worker({ queues: ['refused-on-welcome'], handler: () => 'second' });
    await second.start();
    const done = await completed(producer, 'acme', jobId);
    expect(done.result).toBe('second');
    expect(done.attempts).toBe(2);
    expect(cutter.refused).toBeGreaterThan(0);
    await second.close();

    release.open();
    // 'completed' comes once the Complete is queued, with no session to send it on.
    await waitFor(() => (finished.includes(jobId) ? true : undefined));
    expect(refusals).toEqual([]);
    cutter.blocked = false;

    const reconnect = await waitFor(() => connected[1]);
    expect(reconnect.reattachedJobIds).toEqual([]);
    expect(reconnect.refusedJobIds).toEqual([jobId]);
    // Reported before 'connected'.
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toBeInstanceOf(AckRefusedError);
    expect(refusals[0]).toMatchObject({
      jobId,
      ackStatus: 'ACK_STALE',
      codeName: 'FAILED_PRECONDITION',
      message: `ack of job ${jobId} refused (ACK_STALE): lease no longer current after reconnect`,
    });

    // A refusal of the dropped Complete, had it been sent after the Welcome,
    // would come ahead of this job's lease on the same stream.
    const next = await producer.enqueue({ tenant: 'acme', queue: 'refused-on-welcome' });
    expect((await completed(producer, 'acme', next.jobId)).result).toBe('later');
    expect(ran).toEqual([jobId, next.jobId]);
    expect(refusals).toHaveLength(1);
    const job = await producer.getJob('acme', jobId);
    expect(job.state).toBe('COMPLETED');
    expect(job.result).toBe('second');
    expect(job.attempts).toBe(2);
  });

  it('reports a Complete the broker refuses on a live session as stale', async () => {
    const producer = rota.producer();
    const started = gate();
    const release = gate();
    const worker = rota.worker({
      queues: ['refused-live'],
      handler: async () => {
        started.open();
        await release.promise;
        return 'too late';
      },
    });
    const errors: Error[] = [];
    worker.on('error', (error) => errors.push(error));
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'refused-live' });
    await started.promise;

    const redis = new Redis(rota.broker.config.redisUrl!);
    onTestFinished(() => void redis.quit());
    // As a broker that took the lease over would: complete.lua fences each
    // Complete by the job's current token, which this broker no longer knows.
    const key = rota.broker.broker.store.keys.job('acme', jobId);
    expect(await redis.hset(key, 'token', 'taken-over')).toBe(0); // 0: the field was there
    release.open();

    const [refusal] = await waitFor(() => (errors.length > 0 ? errors : undefined));
    expect(errors).toHaveLength(1);
    expect(refusal).toBeInstanceOf(AckRefusedError);
    expect(refusal).toMatchObject({
      jobId,
      ackStatus: 'ACK_STALE',
      codeName: 'FAILED_PRECONDITION',
      message: `ack of job ${jobId} refused (ACK_STALE): this lease is no longer the job\u2019s current lease`,
    });
    const job = await producer.getJob('acme', jobId);
    expect(job.state).toBe('LEASED');
    expect(job.result).toBeUndefined();
    expect(job.finishedAt).toBeUndefined();
    expect(await redis.hget(key, 'token')).toBe('taken-over');
  });
});
