/**
 * Several brokers on one Redis, and clients given all their addresses (a
 * gRPC target such as `ipv4:host1:port,host2:port`): when the broker a client
 * is connected to dies or is stopped for a deploy, grpc-js moves the channel
 * to the next address that answers, and the Worker re-attaches its running
 * jobs there. Nothing runs twice and nothing waits for the dead broker.
 */
import { afterEach, describe, expect, it } from 'vitest';

import { JobAbortedError } from '../../clients/errors.js';

import { cancelAroundAdopt } from '../helpers/adopt-hooks.js';
import { shutdownWhileStoring, startTestBroker, type TestBroker } from '../helpers/broker.js';
import {
  gate,
  HEARTBEAT_INTERVAL_MS,
  keepEnqueueing,
  LEASE_TTL_MS,
  useRota,
  waitFor,
  completed,
  waitingJobs,
} from './fixture.js';

const rota = useRota();

let peers: TestBroker[] = [];
let undo: Array<() => void> = [];
afterEach(async () => {
  for (const restore of undo) restore();
  undo = [];
  await Promise.all(peers.map((peer) => peer.shutdown(1000)));
  peers = [];
});

/** A second broker on the fixture broker's Redis and key prefix, and a target naming both. */
async function secondBroker(): Promise<{ peer: TestBroker; both: string }> {
  const { redisUrl, keyPrefix } = rota.broker.config;
  const peer = await startTestBroker({
    redisUrl: redisUrl!,
    keyPrefix,
    leaseTtlMs: LEASE_TTL_MS,
    heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  });
  peers.push(peer);
  return { peer, both: `ipv4:${rota.address},${peer.address}` };
}

interface Connected {
  reattachedJobIds: string[];
  refusedJobIds: string[];
}

describe('clients given several brokers', () => {
  it('a Worker moves to the second broker when the first is killed; its running job completes there, once', async () => {
    const { both } = await secondBroker();
    const producer = rota.producer({ address: both });
    const started = gate();
    const release = gate();
    let calls = 0;
    const worker = rota.worker({
      address: both,
      queues: ['failover'],
      handler: async () => {
        calls++;
        started.open();
        await release.promise;
        return 'moved';
      },
    });
    const connected: Connected[] = [];
    worker.on('connected', (info) => connected.push(info));
    worker.on('error', () => undefined); // the failed reconnects to the dead address
    await worker.start();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'failover' });
    await started.promise;

    await rota.broker.kill();
    const second = await waitFor(() => connected[1]);
    expect(second.reattachedJobIds).toEqual([jobId]);
    expect(second.refusedJobIds).toEqual([]);
    // Well past the lease TTL: had the lease stayed with the dead broker's
    // session, a recovery sweep would have run the job again by now.
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_TTL_MS));
    release.open();

    const done = await completed(producer, 'acme', jobId);
    expect(done.result).toBe('moved');
    expect(done.attempts).toBe(1);
    expect(calls).toBe(1);

    // New work goes through the surviving broker, producer and worker alike.
    const next = await producer.enqueue({ tenant: 'acme', queue: 'failover' });
    const nextDone = await completed(producer, 'acme', next.jobId);
    expect(nextDone.attempts).toBe(1);
    expect(calls).toBe(2);
  });

  it('a deploy that stops the first broker gracefully loses nothing: jobs enqueued meanwhile run on the second', async () => {
    const { both } = await secondBroker();
    const producer = rota.producer({ address: both });
    const finished: string[] = [];
    const worker = rota.worker({
      address: both,
      queues: ['deploy'],
      concurrency: 4,
      handler: async (job) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        finished.push(job.id);
      },
    });
    worker.on('error', () => undefined);
    await worker.start();

    const jobIds: string[] = [];
    const enqueueSome = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        jobIds.push((await producer.enqueue({ tenant: 'acme', queue: 'deploy' })).jobId);
      }
    };
    await enqueueSome(20);
    await Promise.all([rota.broker.shutdown(2000), enqueueSome(20)]);
    await enqueueSome(20);

    await waitFor(() => (finished.length >= jobIds.length ? true : undefined));
    expect(new Set(finished)).toEqual(new Set(jobIds));
    expect(finished).toHaveLength(jobIds.length);
    for (const jobId of jobIds) {
      const info = await producer.getJob('acme', jobId);
      expect(info.state, jobId).toBe('COMPLETED');
      expect(info.attempts, jobId).toBe(1);
    }
  });

  it('a deploy that stops the first broker gracefully fails no enqueue() of a busy Producer, and stores each job once', async () => {
    const { peer, both } = await secondBroker();
    const producer = rota.producer({ address: both });
    await producer.enqueue({ tenant: 'acme', queue: 'busy' }); // its stream is on the first broker
    const busy = keepEnqueueing(producer, 'busy');
    await shutdownWhileStoring(rota.broker, 2000);
    const before = busy.jobIds.length;
    await waitFor(() => (busy.jobIds.length > before + 100 ? true : undefined));
    await busy.stop();

    expect(busy.errors).toEqual([]);
    expect(new Set(busy.jobIds).size).toBe(busy.jobIds.length);
    expect(await waitingJobs(peer.address, 'busy')).toBe(busy.jobIds.length + 1);
  });

  it('spreads workers given the addresses in other orders; a dead broker takes only its own', async () => {
    const { peer } = await secondBroker();
    // grpc-js 1.14.7 does not spread one list: pick_first's shuffleAddressList
    // leaves two addresses in order (its loop stops at index 1), and
    // round_robin's stream takes the connection that comes up first.
    const orders = [`ipv4:${rota.address},${peer.address}`, `ipv4:${peer.address},${rota.address}`];
    const workers = Array.from({ length: 8 }, (_, i) =>
      rota.worker({
        address: orders[i % 2],
        queues: ['spread'],
        handler: () => Promise.resolve(),
      }),
    );
    let disconnected = 0;
    let connected = 0;
    for (const worker of workers) {
      worker.on('connected', () => connected++);
      worker.on('disconnected', () => disconnected++);
      worker.on('error', () => undefined);
    }
    await Promise.all(workers.map((worker) => worker.start()));
    await rota.broker.kill();
    await waitFor(() => (disconnected > 0 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(disconnected).toBe(workers.length / 2);
    // ... and those went on with the other broker.
    await waitFor(() => (connected === workers.length * 1.5 ? true : undefined));
  });

  // The job is cancelled while the worker re-attaches its lease on the second
  // broker (adopt.lua): before it, the lease is refused; after it, the
  // cancellation reaches the second broker before it holds the lease (it
  // holds it once adopt.lua's answer is read). Either way the handler's
  // signal aborts, and it never runs the cancelled job to its end.
  for (const [when, reason] of [
    ['before', 'lease lost'],
    ['after', 'cancelled'],
  ] as const) {
    it(`a Worker moving to the second broker stops a job cancelled ${when} the move in Redis`, async () => {
      const { peer, both } = await secondBroker();
      const producer = rota.producer({ address: both });
      const onPeer = rota.producer({ address: peer.address });
      const started = gate();
      let aborted: unknown;
      const worker = rota.worker({
        address: both,
        queues: ['cancel-move'],
        handler: (_job, ctx) =>
          new Promise((_resolve, reject) => {
            started.open();
            ctx.signal.addEventListener('abort', () => {
              aborted = ctx.signal.reason;
              reject(ctx.signal.reason as Error);
            });
          }),
      });
      worker.on('error', () => undefined); // the failed reconnects to the dead address
      await worker.start();
      const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'cancel-move' });
      await started.promise;

      // Its own cancel and the announcement of it coming back over pub/sub.
      const cancel = (): Promise<{ cancelled: boolean }> => onPeer.cancel('acme', jobId);
      undo.push(cancelAroundAdopt(peer, jobId, when, cancel, 2));
      await rota.broker.kill();

      const abort = await waitFor(() => aborted);
      expect(abort).toBeInstanceOf(JobAbortedError);
      expect((abort as Error).message).toBe(reason);
      expect((await onPeer.getJob('acme', jobId)).state).toBe('CANCELLED');
    });
  }
});
