/**
 * Example operator script: queue statistics, the dead letter queue, and replay,
 * with the TypeScript Admin client.
 *
 *   npx tsx examples/admin.ts            # stats of queue `email`, dead letters of `globex`
 *   npx tsx examples/admin.ts --replay   # … then replay globex's dead letters
 *
 * Run it after examples/producer.ts: the job with the bad address is in
 * globex's dead letter queue. A replayed job gets a fresh attempt budget and
 * goes back to its ready queue (the example worker will dead-letter it again).
 *
 * The broker address comes from ROTA_ADDRESS (default 127.0.0.1:50051).
 */
import { Admin } from '../clients/index.js';

const address = process.env.ROTA_ADDRESS || '127.0.0.1:50051';
const QUEUE = 'email';
const TENANT = 'globex';

const admin = new Admin({ address, timeoutMs: 10_000 });
try {
  const stats = await admin.getStats({ queue: QUEUE });
  console.log(`queue ${QUEUE}, per tenant:`);
  for (const row of stats.entries) {
    console.log(
      `  ${row.tenant.padEnd(8)} waiting ${row.waiting}  delayed ${row.delayed}  leased ${row.leased}  ` +
        `dead ${row.dead}  wait p50 ${row.waitMs.p50.toFixed(0)} ms, p99 ${row.waitMs.p99.toFixed(0)} ms ` +
        `(${row.waitMs.count} jobs)`,
    );
  }

  const dead = await admin.listDeadLetters(TENANT, QUEUE, { pageSize: 20 });
  console.log(`\ndead letters of ${TENANT}/${QUEUE}: ${dead.total}`);
  for (const job of dead.jobs) {
    console.log(`  ${job.id}  attempts ${job.attempts}/${job.maxAttempts}  "${job.lastError}"`);
  }

  if (process.argv.includes('--replay')) {
    const { replayed } = await admin.replayDeadLetters(TENANT, QUEUE, 'all');
    console.log(`\nreplayed ${replayed} job(s) of ${TENANT}/${QUEUE}`);
  }
} catch (error) {
  console.error(`admin call to ${address} failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  admin.close();
}
