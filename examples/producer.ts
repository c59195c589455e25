/**
 * Example producer: two tenants share the `email` queue. `acme` floods it with
 * 1,000 jobs, then `globex` sends a few. With a FIFO queue globex would wait
 * behind the whole flood; Rota serves the tenants in turn, so globex's jobs
 * start at once. Run it while `npm start` and examples/worker.ts run:
 *
 *   npx tsx examples/producer.ts
 *
 * It also shows a delayed job, an idempotent pair (the second Enqueue returns
 * the first job), a job the worker dead-letters (NonRetryableError) and one it
 * retries (RetryAfterError), then polls getJob until those jobs end and
 * prints their final state, and exits.
 *
 * The broker address comes from ROTA_ADDRESS (default 127.0.0.1:50051).
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { Producer, type JobInfo, type JobInput } from '../clients/index.js';
import { startTracing } from '../src/telemetry/sdk.js';

// Traces when OTEL_TRACES_EXPORTER is set (README, "Viewing traces"); a no-op otherwise.
const stopTracing = await startTracing();

const address = process.env.ROTA_ADDRESS || '127.0.0.1:50051';
const QUEUE = 'email';
const FLOOD = 'acme';
const QUIET = 'globex';
const FLOOD_JOBS = 1000;
/** How long to wait for the jobs we watch to end before giving up. */
const WATCH_TIMEOUT_MS = 60_000;
const TERMINAL = new Set(['COMPLETED', 'DEAD', 'CANCELLED']);

// maxBatch 1000 (the broker's default batch limit) sends the flood as one
// batch, so it is stored in order and its last job is the last to run.
const producer = new Producer({ address, maxBatch: 1000, timeoutMs: 10_000 });

// 1. The flood: 1,000 jobs of one tenant in one call.
const flood: JobInput[] = Array.from({ length: FLOOD_JOBS }, (_, i) => ({
  tenant: FLOOD,
  queue: QUEUE,
  payload: { to: `user${i}@acme.example`, subject: `Newsletter #${i}` },
}));
const floodResults = await producer.enqueueBatch(flood);
const floodIds = floodResults.flatMap((r) => ('jobId' in r ? [r.jobId] : []));
const floodErrors = floodResults.flatMap((r) => ('error' in r ? [r.error] : []));
if (floodErrors.length > 0) {
  console.error(`${floodErrors.length} flood jobs were refused, e.g. ${floodErrors[0]?.message}`);
}
console.log(`${FLOOD}: enqueued ${floodIds.length} jobs (${floodIds[0]} … ${floodIds.at(-1)})`);

// 2. The quiet tenant: a few jobs, enqueued after the flood. Concurrent enqueue()
//    calls are coalesced into one batch (one message on the enqueue stream).
const [welcome, invoice, bounce, reminder, receipt, receiptAgain] = await Promise.all([
  producer.enqueue({
    tenant: QUIET,
    queue: QUEUE,
    payload: { to: 'ada@globex.example', subject: 'Welcome' },
    priority: 5, // 0–9; orders jobs within globex's own turn only
    timeoutMs: 10_000, // one attempt may run at most 10 s
    headers: { 'x-request-id': 'req-42' },
  }),
  producer.enqueue({
    tenant: QUIET,
    queue: QUEUE,
    // The worker fails its first attempt with RetryAfterError(300).
    payload: { to: 'grace@globex.example', subject: 'Invoice', failFirstAttempt: true },
    maxAttempts: 3,
    backoff: { initialMs: 200, maxMs: 5_000 },
  }),
  producer.enqueue({
    tenant: QUIET,
    queue: QUEUE,
    // The worker throws NonRetryableError: dead letter queue after one attempt.
    payload: { to: 'not-an-address', subject: 'Password reset' },
    maxAttempts: 5,
  }),
  producer.enqueue({
    tenant: QUIET,
    queue: QUEUE,
    payload: { to: 'alan@globex.example', subject: 'Reminder' },
    delayMs: 2_000, // runs no earlier than 2 s from now
  }),
  // The idempotent pair: same key, so the second call stores nothing and
  // returns the first job's id with duplicate = true.
  producer.enqueue({
    tenant: QUIET,
    queue: QUEUE,
    payload: { to: 'ada@globex.example', subject: 'Receipt #1001' },
    idempotencyKey: 'receipt-1001',
  }),
  producer.enqueue({
    tenant: QUIET,
    queue: QUEUE,
    payload: { to: 'ada@globex.example', subject: 'Receipt #1001' },
    idempotencyKey: 'receipt-1001',
  }),
]);
console.log(`${QUIET}: welcome  ${welcome.jobId}`);
console.log(`${QUIET}: invoice  ${invoice.jobId}`);
console.log(`${QUIET}: bounce   ${bounce.jobId}`);
console.log(`${QUIET}: reminder ${reminder.jobId} (delayed 2 s)`);
console.log(
  `${QUIET}: receipt  ${receipt.jobId} (duplicate: ${receipt.duplicate}), again ${receiptAgain.jobId} (duplicate: ${receiptAgain.duplicate})`,
);

// 3. Watch a few jobs until they end.
const watched: Array<[label: string, tenant: string, jobId: string]> = [
  [`${QUIET} welcome`, QUIET, welcome.jobId],
  [`${QUIET} invoice`, QUIET, invoice.jobId],
  [`${QUIET} bounce`, QUIET, bounce.jobId],
  [`${QUIET} reminder`, QUIET, reminder.jobId],
  [`${QUIET} receipt`, QUIET, receipt.jobId],
  [`${FLOOD} last flood job`, FLOOD, floodIds.at(-1) ?? ''],
];

async function waitUntilEnded(tenant: string, jobId: string): Promise<JobInfo> {
  const deadline = Date.now() + WATCH_TIMEOUT_MS;
  for (;;) {
    const job = await producer.getJob(tenant, jobId);
    if (TERMINAL.has(job.state) || Date.now() > deadline) return job;
    await sleep(100);
  }
}

console.log('\nwaiting for the watched jobs to end…');
const ended = await Promise.all(
  watched.map(
    async ([label, tenant, jobId]) => [label, await waitUntilEnded(tenant, jobId)] as const,
  ),
);
let allEnded = true;
for (const [label, job] of ended) {
  allEnded &&= TERMINAL.has(job.state);
  // leasedAt is the start of the last attempt; runAt is when that attempt became runnable.
  const waited = job.leasedAt === undefined ? '-' : `${job.leasedAt - job.runAt} ms`;
  const details =
    job.state === 'COMPLETED'
      ? `result ${JSON.stringify(job.result)}, progress ${JSON.stringify(job.progress)}`
      : `last error "${job.lastError}"`;
  console.log(
    `${label.padEnd(20)} ${job.state.padEnd(9)} attempts ${job.attempts}/${job.maxAttempts}  ` +
      `waited ${waited.padStart(8)} once runnable  ${details}`,
  );
}
if (!allEnded) {
  console.error(
    `\nsome jobs did not end within ${WATCH_TIMEOUT_MS / 1000} s: is examples/worker.ts running?`,
  );
  process.exitCode = 1;
}

await producer.close();
await stopTracing();
