/**
 * Bench agent: Rota producers (clients/Producer) in their own process, driven
 * over IPC. `single` mode calls enqueue() per job (the client coalesces the
 * calls of one tick into one EnqueueBatch RPC); `batch` calls enqueueBatch().
 */
import type { JobInput, Producer } from '../../clients/index.js';
import type { Sink } from './pacing.js';
import type { ProducerStartArgs } from './protocol.js';
import { loadClients } from './rota-clients.js';
import { serveProducerAgent } from './serve.js';

const clients = await loadClients();

let producers: Producer[] = [];
let queue = 'bench';

const job = (tenant: string, stamp: number): JobInput => ({
  tenant,
  queue,
  payload: { t: stamp },
  maxAttempts: 1,
});

const sink: Sink = {
  get count() {
    return producers.length;
  },
  async one(p, tenant, stamp) {
    await producers[p]!.enqueue(job(tenant, stamp));
  },
  async many(p, jobs) {
    const results = await producers[p]!.enqueueBatch(jobs.map((j) => job(j.tenant, j.stamp)));
    const failed = results.find((item) => 'error' in item);
    if (failed !== undefined && 'error' in failed) throw failed.error;
  },
};

async function start(args: ProducerStartArgs): Promise<{ pid: number }> {
  await stop();
  if (args.address === undefined) throw new TypeError('the Rota producer needs address');
  queue = args.queue;
  for (let i = 0; i < args.producers; i++) {
    // Distinct channel options: one HTTP/2 connection per producer, not one shared.
    producers.push(
      new clients.Producer({
        address: args.address,
        maxBatch: 500,
        channelOptions: { 'bench.producer': i },
      }),
    );
  }
  return { pid: process.pid };
}

async function stop(): Promise<void> {
  const closing = producers.map((producer) => producer.close());
  producers = [];
  await Promise.allSettled(closing);
}

serveProducerAgent(sink, start, stop);
