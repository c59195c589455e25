/**
 * A worker process for the fault suite and the soak run: one Worker client
 * that runs each job for the milliseconds its JSON payload asks (`{ ms }`) and
 * journals everything to a JSON-lines file with synchronous writes, so every
 * line written before a SIGKILL survives it. A payload may also ask for
 * failures: `{ failFirst: n }` fails attempts 1..n, `{ poison: true }` fails
 * every attempt until the file AGENT_HEAL_FILE exists (the soak creates it
 * before it replays the dead letters, as an operator would after a fix).
 *
 * Journal records (each with `t` = wall-clock ms to the microsecond, `agent`, `pid`):
 *   {ev:'ready'}                                   process up, Worker started
 *   {ev:'connected', sessionId, reattached, refused}
 *   {ev:'disconnected', code}
 *   {ev:'start', job, tenant, attempt}             handler entered
 *   {ev:'end', job, attempt}                       handler resolved (ack queued)
 *   {ev:'fail', job, attempt, message}             handler threw as the payload asked
 *   {ev:'aborted', job, attempt, reason}           signal fired (cancel, lease lost)
 *   {ev:'error', name, message}                    Worker 'error' events (refused acks…)
 *
 * Environment: ROTA_ADDRESS, AGENT_NAME, AGENT_JOURNAL, AGENT_QUEUES (comma list),
 * AGENT_CONCURRENCY, AGENT_DEFAULT_MS, AGENT_HEAL_FILE, AGENT_TOKEN (a bearer token). SIGTERM closes the Worker gracefully; the
 * exit-with-parent.ts preload ends it when the process that started it is gone.
 */
import { existsSync, openSync, writeSync } from 'node:fs';

import { Worker } from '../../../clients/worker.js';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`worker-agent: ${name} is not set`);
  return value;
};

const name = env('AGENT_NAME');
const journal = openSync(env('AGENT_JOURNAL'), 'a');
const defaultMs = Number(env('AGENT_DEFAULT_MS', '50'));
const healFile = process.env.AGENT_HEAL_FILE;

/**
 * Wall-clock ms with a fraction. Whole ms made ties: under load a broker turns
 * a slot around (an end here, the ack, a lease, a start at another agent) in
 * under a millisecond, and a start sorted before the end of the same ms read
 * as one job too many running at once (bench/soak.ts counts a capped tenant's).
 */
const now = (): number => performance.timeOrigin + performance.now();

function record(fields: Record<string, unknown>): void {
  writeSync(journal, JSON.stringify({ ...fields, t: now(), agent: name, pid: process.pid }) + '\n');
}

function jobMs(payload: unknown): number {
  if (typeof payload === 'object' && payload !== null && 'ms' in payload) {
    const ms = Number(payload.ms);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return defaultMs;
}

/** The error this attempt must end with, as its payload asks; undefined to succeed. */
function plannedFailure(payload: unknown, attempt: number): string | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  if ('poison' in payload && payload.poison === true) {
    if (healFile === undefined || !existsSync(healFile)) return `poison attempt ${attempt}`;
  }
  if ('failFirst' in payload && attempt <= Number(payload.failFirst)) {
    return `planned failure of attempt ${attempt}`;
  }
  return undefined;
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

const worker = new Worker({
  address: env('ROTA_ADDRESS'),
  token: process.env.AGENT_TOKEN,
  queues: env('AGENT_QUEUES', 'faults').split(','),
  concurrency: Number(env('AGENT_CONCURRENCY', '8')),
  workerId: name,
  reconnect: { initialMs: 20, maxMs: 250 },
  shutdownGraceMs: 2000,
  handler: async (job, ctx) => {
    record({ ev: 'start', job: job.id, tenant: job.tenant, attempt: job.attempt });
    await wait(jobMs(job.payload), ctx.signal);
    if (ctx.signal.aborted) {
      const reason: unknown = ctx.signal.reason;
      record({
        ev: 'aborted',
        job: job.id,
        attempt: job.attempt,
        reason: reason instanceof Error ? reason.message : String(reason),
      });
      throw reason;
    }
    const failure = plannedFailure(job.payload, job.attempt);
    if (failure !== undefined) {
      record({ ev: 'fail', job: job.id, attempt: job.attempt, message: failure });
      throw new Error(failure);
    }
    record({ ev: 'end', job: job.id, attempt: job.attempt });
    return { by: name, attempt: job.attempt };
  },
});

worker.on('connected', (info) =>
  record({
    ev: 'connected',
    sessionId: info.sessionId,
    reattached: info.reattachedJobIds,
    refused: info.refusedJobIds,
  }),
);
worker.on('disconnected', (error) => record({ ev: 'disconnected', code: error?.codeName }));
worker.on('error', (error) => record({ ev: 'error', name: error.name, message: error.message }));

let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  worker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

worker.start().then(
  () => record({ ev: 'ready' }),
  (error: unknown) => {
    record({ ev: 'fatal', message: error instanceof Error ? error.message : String(error) });
    process.exit(2);
  },
);
