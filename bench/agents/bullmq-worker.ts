/**
 * Bench agent: BullMQ workers in their own process, driven over IPC: the peer
 * Rota is compared with. Configured as BASELINES.md measured it: no-op
 * processor, `removeOnComplete`, default BullMQ settings otherwise.
 *
 * Latency stamps: start = the processor is called; done = the Worker's
 * `completed` event (after Redis has moved the job to completed).
 */
import { Worker, type Job } from 'bullmq';

import type { BenchPayload, WorkerStartArgs } from './protocol.js';
import { Recorder, type Sample } from './recorder.js';
import { serveWorkerAgent } from './serve.js';
import { monoMs } from './protocol.js';

let workers: Worker[] = [];
let recorder = new Recorder(100, false);
let releaseHeld: () => void = () => undefined;
let held: Promise<void> = Promise.resolve();
const samples = new Map<string, Sample>();

function redisConnection(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

async function start(args: WorkerStartArgs): Promise<{ pid: number }> {
  await stop();
  if (args.redisUrl === undefined) throw new TypeError('the BullMQ worker needs redisUrl');
  recorder = new Recorder(args.bucketMs, args.recordLatency);
  held = new Promise((resolve) => (releaseHeld = resolve));
  const hold = args.mode === 'hold';
  for (let i = 0; i < args.workers; i++) {
    const worker = new Worker(
      args.queue,
      async (job: Job<BenchPayload>) => {
        const sample = recorder.onStart(job.data.k ?? 'default', job.data.t);
        if (sample !== undefined && job.id !== undefined) samples.set(job.id, sample);
        if (hold) await held;
      },
      {
        connection: { ...redisConnection(args.redisUrl), maxRetriesPerRequest: null },
        prefix: args.prefix ?? 'bull',
        concurrency: args.concurrency,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 0 },
        autorun: false,
      },
    );
    worker.on('completed', (job: Job<BenchPayload>) => {
      const at = monoMs();
      recorder.onDone(at);
      if (job.id === undefined) return;
      const sample = samples.get(job.id);
      if (sample === undefined) return;
      samples.delete(job.id);
      recorder.mark(sample, 'done', at);
    });
    worker.on('failed', () => recorder.errors++);
    worker.on('error', () => recorder.errors++);
    workers.push(worker);
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  for (const worker of workers) {
    worker.run().catch(() => recorder.errors++);
  }
  return { pid: process.pid };
}

async function stop(): Promise<void> {
  releaseHeld();
  const closing = workers.map((worker) => worker.close(true));
  workers = [];
  await Promise.allSettled(closing);
  samples.clear();
}

serveWorkerAgent(() => recorder, start, stop);
