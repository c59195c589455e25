/**
 * Example operator script: queue statistics, the dead letter queue, and replay.
 * The TypeScript clients have no Admin class (yet), so this calls the
 * `rota.v1.Admin` gRPC service directly with @grpc/grpc-js.
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
import * as grpc from '@grpc/grpc-js';

import type { ListDeadLettersResponse__Output } from '../src/generated/rota/v1/ListDeadLettersResponse.js';
import type { ReplayDeadLettersResponse__Output } from '../src/generated/rota/v1/ReplayDeadLettersResponse.js';
import type { Stats__Output } from '../src/generated/rota/v1/Stats.js';
import { loadRotaProto } from '../src/grpc/proto.js';

const address = process.env.ROTA_ADDRESS || '127.0.0.1:50051';
const QUEUE = 'email';
const TENANT = 'globex';

const { Admin } = loadRotaProto().rota.v1;
const admin = new Admin(address, grpc.credentials.createInsecure());

/** One unary call as a promise. */
function call<Res>(start: (callback: grpc.requestCallback<Res>) => void): Promise<Res> {
  return new Promise((resolve, reject) =>
    start((error, response) =>
      error !== null || response === undefined
        ? reject(error ?? new Error('empty reply'))
        : resolve(response),
    ),
  );
}

try {
  const stats = await call<Stats__Output>((cb) => admin.GetStats({ queue: QUEUE }, cb));
  console.log(`queue ${QUEUE}, per tenant:`);
  const ms = (value: number | undefined): string => (value ?? 0).toFixed(0);
  for (const row of stats.entries) {
    console.log(
      `  ${row.tenant.padEnd(8)} waiting ${row.waiting}  delayed ${row.delayed}  leased ${row.leased}  ` +
        `dead ${row.dead}  wait p50 ${ms(row.wait_ms?.p50)} ms, p99 ${ms(row.wait_ms?.p99)} ms ` +
        `(${row.wait_ms?.count ?? 0} jobs)`,
    );
  }

  const dead = await call<ListDeadLettersResponse__Output>((cb) =>
    admin.ListDeadLetters({ tenant: TENANT, queue: QUEUE, page_size: 20 }, cb),
  );
  console.log(`\ndead letters of ${TENANT}/${QUEUE}: ${dead.total}`);
  for (const job of dead.jobs) {
    console.log(`  ${job.id}  attempts ${job.attempts}/${job.max_attempts}  "${job.last_error}"`);
  }

  if (process.argv.includes('--replay')) {
    const replay = await call<ReplayDeadLettersResponse__Output>((cb) =>
      admin.ReplayDeadLetters({ tenant: TENANT, queue: QUEUE, all: true }, cb),
    );
    console.log(`\nreplayed ${replay.replayed} job(s) of ${TENANT}/${QUEUE}`);
  }
} catch (error) {
  console.error(`admin call to ${address} failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  admin.close();
}
