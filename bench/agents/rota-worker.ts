/**
 * Bench agent: Rota workers (clients/Worker) in their own process, driven over IPC.
 *
 * Latency stamps of one job (all against its enqueue stamp):
 * - start: the handler is called;
 * - ack: the worker has handed the ack to the Work stream (two setImmediate hops
 *   after the handler returned, so the worker's own ack flush has run);
 * - done: Redis marked the job completed. The complete script deletes the job
 *   hash (retention 0, the bench's default) or sets its retention TTL, which
 *   Redis announces as a keyspace `del` or `expire` event; the orchestrator
 *   enables those events (notify-keyspace-events Eg) for this.
 */
import { Redis } from 'ioredis';

import type { Worker, WorkerJob } from '../../clients/index.js';
import { monoMs, type BenchPayload, type WorkerStartArgs } from './protocol.js';
import { Recorder, type Sample } from './recorder.js';
import { loadClients } from './rota-clients.js';
import { serveWorkerAgent } from './serve.js';

const clients = await loadClients();

let workers: Worker[] = [];
let listener: Redis | undefined;
let recorder = new Recorder(100, false);
let releaseHeld: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();
/** Samples waiting for their ack / completed stamps, by job id. */
const samples = new Map<string, Sample>();
let durable = false;
let ackBatch: Sample[] = [];

function stampAcks(): void {
  const now = monoMs();
  for (const sample of ackBatch) recorder.mark(sample, 'ack', now);
  ackBatch = [];
}

function onCompleted(job: WorkerJob): void {
  recorder.onDone();
  const sample = samples.get(job.id);
  if (sample === undefined) return;
  if (!durable) samples.delete(job.id);
  if (ackBatch.length === 0) {
    // The worker's flush is queued behind this listener: stamp one loop turn later.
    setImmediate(() => setImmediate(stampAcks));
  }
  ackBatch.push(sample);
}

async function start(args: WorkerStartArgs): Promise<{ pid: number }> {
  await stop();
  recorder = new Recorder(args.bucketMs, args.recordLatency);
  durable = args.recordLatency && args.durableSignal === true;
  held = new Promise((resolve) => (releaseHeld = resolve));
  if (durable) {
    if (args.redisUrl === undefined) throw new TypeError('durableSignal needs redisUrl');
    listener = new Redis(args.redisUrl, { lazyConnect: true });
    await listener.connect();
    await listener.subscribe('__keyevent@0__:del', '__keyevent@0__:expire');
    listener.on('message', (_channel: string, key: string) => {
      const at = monoMs();
      const i = key.lastIndexOf(':job:');
      if (i < 0) return;
      const id = key.slice(i + 5);
      const sample = samples.get(id);
      if (sample === undefined) return;
      samples.delete(id);
      recorder.mark(sample, 'done', at);
    });
  }
  const hold = args.mode === 'hold';
  const addresses = args.address?.split(',') ?? [];
  for (let i = 0; i < args.workers; i++) {
    const worker = new clients.Worker({
      address: addresses[i % addresses.length],
      queues: [args.queue],
      concurrency: args.concurrency,
      workerId: `bench-${process.pid}-${i}`,
      // Distinct channel options: a connection of its own (see WorkerStartArgs).
      ...(args.ownConnections === true ? { channelOptions: { 'bench.worker': i } } : {}),
      shutdownGraceMs: hold ? 200 : 5000,
      handler: async (job) => {
        const payload = job.payload as BenchPayload | undefined;
        const sample = recorder.onStart(job.tenant, payload?.t ?? 0);
        if (sample !== undefined) samples.set(job.id, sample);
        if (hold) await held;
      },
    });
    worker.on('completed', onCompleted);
    worker.on('failed', () => recorder.errors++);
    worker.on('error', () => recorder.errors++);
    workers.push(worker);
  }
  await Promise.all(workers.map((worker) => worker.start()));
  return { pid: process.pid };
}

async function stop(): Promise<void> {
  releaseHeld();
  const closing = workers.map((worker) => worker.close());
  workers = [];
  await Promise.allSettled(closing);
  listener?.disconnect();
  listener = undefined;
  samples.clear();
}

serveWorkerAgent(() => recorder, start, stop);
