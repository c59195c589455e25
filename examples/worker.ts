/**
 * Example worker: takes jobs from the `email` queue, 10 at a time, and
 * "sends" each email (a short sleep). Run it next to `npm start`:
 *
 *   npx tsx examples/worker.ts
 *
 * What it shows:
 * - every job logs its tenant, id, attempt and how long after its Enqueue it
 *   started (watch the quiet tenant's jobs start within milliseconds while the
 *   flood drains);
 * - an address without "@" fails with NonRetryableError: no retry, straight to
 *   the dead letter queue;
 * - a job with `failFirstAttempt` fails its first attempt with RetryAfterError,
 *   so it runs again 300 ms later (attempt 2);
 * - progress is reported twice per job (visible through Producer.getJob);
 * - Ctrl-C (SIGINT) or SIGTERM closes the worker gracefully: no new leases,
 *   running jobs finish and are acknowledged, then the process exits.
 *   A second Ctrl-C kills it at once.
 *
 * The broker address comes from ROTA_ADDRESS (default 127.0.0.1:50051).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { NonRetryableError, RetryAfterError, Worker, type WorkerJob } from '../clients/index.js';
import { startTracing } from '../src/telemetry/sdk.js';

// Traces when OTEL_TRACES_EXPORTER is set (README, "Viewing traces"); a no-op otherwise.
const stopTracing = await startTracing();

const address = process.env.ROTA_ADDRESS || '127.0.0.1:50051';
/** Simulated time to send one email. */
const SEND_MS = 25;

/** The payload examples/producer.ts sends. */
interface EmailJob {
  to: string;
  subject: string;
  failFirstAttempt?: boolean;
}

function isEmailJob(payload: unknown): payload is EmailJob {
  if (typeof payload !== 'object' || payload === null) return false;
  const { to, subject } = payload as Record<string, unknown>;
  return typeof to === 'string' && typeof subject === 'string';
}

let completed = 0;
let failed = 0;

const worker = new Worker({
  address,
  queues: ['email'],
  concurrency: 10,
  // We install our own SIGINT/SIGTERM handlers below, to show worker.close().
  shutdownSignals: [],
  handler: async (job: WorkerJob, ctx) => {
    const { signal, attempt } = ctx;
    const sinceEnqueueMs = Date.now() - job.createdAt;
    if (!isEmailJob(job.payload)) {
      throw new NonRetryableError(`payload is not an email job: ${JSON.stringify(job.payload)}`);
    }
    const email = job.payload;
    console.log(
      `${job.tenant.padEnd(7)} ${job.id}  attempt ${attempt}/${job.maxAttempts}  ` +
        `${String(sinceEnqueueMs).padStart(5)} ms after enqueue  to=${email.to}  "${email.subject}"`,
    );
    if (!email.to.includes('@')) {
      // A bad address will never work: do not retry, dead-letter it now.
      throw new NonRetryableError(`invalid address "${email.to}"`);
    }
    if (email.failFirstAttempt && attempt === 1) {
      // A transient problem (say the mail server answered 421): try again in 300 ms.
      throw new RetryAfterError(300, 'mail server busy (421), retrying');
    }
    await ctx.progress({ step: 'rendered' });
    // The signal aborts when the job is cancelled, times out, or its lease is lost.
    await sleep(SEND_MS, undefined, { signal });
    await ctx.progress({ step: 'sent' });
    return { messageId: `<${job.id}@mail.example>` };
  },
});

worker.on('connected', ({ sessionId, reattachedJobIds }) => {
  console.log(
    `connected to ${address} (session ${sessionId}, re-attached ${reattachedJobIds.length})`,
  );
});
worker.on('completed', () => completed++);
worker.on('failed', (job, error) => {
  failed++;
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  console.log(`${job.tenant.padEnd(7)} ${job.id}  attempt ${job.attempt} failed: ${reason}`);
});
worker.on('draining', (graceMs) => {
  console.log(`broker is shutting down; finishing held jobs within ${graceMs} ms`);
});
worker.on('error', (error) => console.error(`worker error: ${error.message}`));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`${signal}: closing (running jobs: ${worker.running})…`);
    worker.close().then(
      async () => {
        console.log(`closed: ${completed} completed, ${failed} failed attempts`);
        await stopTracing();
      },
      (error: unknown) => {
        console.error('close failed', error);
        process.exitCode = 1;
      },
    );
  });
}

try {
  await worker.start();
} catch (error) {
  console.error(
    `could not start the worker at ${address}: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
}
