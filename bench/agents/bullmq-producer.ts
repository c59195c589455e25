/**
 * Bench agent: BullMQ producers (Queue objects) in their own process, driven
 * over IPC: `single` mode calls queue.add() per job, `batch` calls
 * queue.addBulk() (chunks of the burst's batchSize, 1,000 by default).
 */
import { Queue } from 'bullmq';

import type { Sink } from './pacing.js';
import type { BenchPayload, ProducerStartArgs } from './protocol.js';
import { serveProducerAgent } from './serve.js';

let queues: Array<Queue<BenchPayload>> = [];

const JOB_OPTIONS = { removeOnComplete: true, removeOnFail: true, attempts: 1 };

const sink: Sink = {
  get count() {
    return queues.length;
  },
  async one(p, tenant, stamp) {
    await queues[p]!.add('job', { t: stamp, k: tenant }, JOB_OPTIONS);
  },
  async many(p, jobs) {
    await queues[p]!.addBulk(
      jobs.map((j) => ({ name: 'job', data: { t: j.stamp, k: j.tenant }, opts: JOB_OPTIONS })),
    );
  },
};

async function start(args: ProducerStartArgs): Promise<{ pid: number }> {
  await stop();
  if (args.redisUrl === undefined) throw new TypeError('the BullMQ producer needs redisUrl');
  const url = new URL(args.redisUrl);
  for (let i = 0; i < args.producers; i++) {
    queues.push(
      new Queue<BenchPayload>(args.queue, {
        connection: { host: url.hostname, port: Number(url.port) },
        prefix: args.prefix ?? 'bull',
      }),
    );
  }
  await Promise.all(queues.map((queue) => queue.waitUntilReady()));
  return { pid: process.pid };
}

async function stop(): Promise<void> {
  const closing = queues.map((queue) => queue.close());
  queues = [];
  await Promise.allSettled(closing);
}

serveProducerAgent(sink, start, stop);
