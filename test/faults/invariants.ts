/**
 * The delivery invariants of DESIGN.md ("Delivery guarantees"), checked from
 * Redis state (via Producer.getJob) and the worker agents' journals:
 *
 * 1. every acknowledged job ends in exactly one terminal state, the one
 *    expected of it (COMPLETED unless told otherwise), a COMPLETED one with a
 *    result written by an agent whose journal shows it ran the job;
 * 2. every acknowledged job not CANCELLED ran at least once (a `start` in
 *    some journal);
 * 3. a job started more than once is a duplicate, allowed only when the
 *    attempt before each re-run failed as its payload asked (a `fail` in the
 *    journal), or was in flight at a fault: it started before the fault window
 *    ended and had not finished (handler resolved) before the window began,
 *    give or take `slackMs` for the ack on its way;
 * 4. no job ran more often than the attempts Redis counted, and no journal
 *    shows a job nobody acknowledged (stored but never acked is only possible
 *    for keys the producer gave up on).
 */
import * as grpc from '@grpc/grpc-js';

import type { Producer } from '../../clients/producer.js';
import type { JobInfo } from '../../clients/job.js';
import { RotaError } from '../../clients/errors.js';
import { attemptsOf, type JournalRecord } from './journal.js';
import type { AckedJob } from './load.js';
import { sleep } from './processes.js';
import { rawClients } from '../helpers/broker.js';
import type { Stats__Output } from '../../src/generated/rota/v1/Stats.js';

export interface FaultWindow {
  readonly kind: string;
  /** When the fault was injected (ms). */
  readonly start: number;
  /** When the system was whole again (ms). */
  readonly end: number;
  readonly detail?: string;
}

export interface Duplicate {
  readonly jobId: string;
  readonly starts: ReadonlyArray<{
    agent: string;
    attempt: number | undefined;
    t: number;
    endedAt?: number;
  }>;
  /** The fault that explains each re-run, or undefined for an unexplained one. */
  readonly explainedBy: ReadonlyArray<string | undefined>;
}

export interface InvariantReport {
  readonly acknowledged: number;
  readonly completed: number;
  readonly dead: number;
  readonly cancelled: number;
  /** Acked jobs not terminal (or not found) when the checker gave up: lost. */
  readonly lost: ReadonlyArray<{
    jobId: string;
    tenant: string;
    state: string;
    attempts?: number;
    lastError?: string;
  }>;
  readonly neverRan: string[];
  readonly duplicates: Duplicate[];
  readonly unexplainedDuplicates: Duplicate[];
  readonly startsBeyondAttempts: ReadonlyArray<{ jobId: string; starts: number; attempts: number }>;
  readonly resultNotFromARunner: ReadonlyArray<{ jobId: string; result: unknown }>;
  readonly startedButNotAcked: string[];
  /** One line per broken invariant; empty = all hold. */
  readonly violations: string[];
}

const TERMINAL = new Set(['COMPLETED', 'DEAD', 'CANCELLED']);

/**
 * Polls the acked jobs until all are terminal or `timeoutMs` passes. Returns the
 * last record seen of each (undefined = NOT_FOUND).
 */
export async function settle(
  producer: Producer,
  acked: readonly AckedJob[],
  { timeoutMs = 15_000, intervalMs = 200 } = {},
): Promise<Map<string, JobInfo | undefined>> {
  const records = new Map<string, JobInfo | undefined>();
  let pending = [...acked];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const next: AckedJob[] = [];
    for (let i = 0; i < pending.length; i += 32) {
      await Promise.all(
        pending.slice(i, i + 32).map(async (job) => {
          try {
            const info = await producer.getJob(job.tenant, job.jobId);
            records.set(job.jobId, info);
            if (!TERMINAL.has(info.state)) next.push(job);
          } catch (error) {
            if (error instanceof RotaError && error.codeName === 'NOT_FOUND') {
              records.set(job.jobId, undefined);
            }
            next.push(job); // unreachable broker or missing job: look again
          }
        }),
      );
    }
    pending = next;
    if (pending.length === 0 || Date.now() > deadline) return records;
    await sleep(intervalMs);
  }
}

export function checkInvariants(input: {
  acked: readonly AckedJob[];
  records: ReadonlyMap<string, JobInfo | undefined>;
  journal: readonly JournalRecord[];
  faults: readonly FaultWindow[];
  /** Allowance for an ack in flight around a fault. @default 300 */
  slackMs?: number;
  /** Terminal state every job must reach. @default 'COMPLETED' */
  expectState?: string;
  /** Terminal state of particular jobs (by id), where it is not `expectState`. */
  expected?: ReadonlyMap<string, string>;
  /** Attempts counted before a dead-letter replay reset the count, by job id. */
  attemptsBefore?: ReadonlyMap<string, number>;
}): InvariantReport {
  const { acked, records, journal, faults } = input;
  const slack = input.slackMs ?? 300;
  const expectState = input.expectState ?? 'COMPLETED';
  const ackedIds = new Set(acked.map((a) => a.jobId));

  const { starts, endOf: endRecordOf } = attemptsOf(journal);
  const endOf = (start: JournalRecord): number | undefined => endRecordOf(start)?.t;

  const violations: string[] = [];
  let completed = 0;
  let dead = 0;
  let cancelled = 0;
  const lost: Array<{
    jobId: string;
    tenant: string;
    state: string;
    attempts?: number;
    lastError?: string;
  }> = [];
  const neverRan: string[] = [];
  const startsBeyondAttempts: Array<{ jobId: string; starts: number; attempts: number }> = [];
  const resultNotFromARunner: Array<{ jobId: string; result: unknown }> = [];

  for (const job of acked) {
    const info = records.get(job.jobId);
    const state = info?.state ?? 'NOT_FOUND';
    if (state === 'COMPLETED') completed++;
    else if (state === 'DEAD') dead++;
    else if (state === 'CANCELLED') cancelled++;
    if (!info || !TERMINAL.has(state)) {
      lost.push({
        jobId: job.jobId,
        tenant: job.tenant,
        state,
        ...(info ? { attempts: info.attempts, lastError: info.lastError } : {}),
      });
      continue;
    }
    const expected = input.expected?.get(job.jobId) ?? expectState;
    if (state !== expected) {
      violations.push(
        `job ${job.jobId} (${job.tenant}) ended ${state}, expected ${expected}; attempts ${info.attempts}, last error: ${info.lastError}`,
      );
    }
    if (info.finishedAt === undefined) {
      violations.push(`job ${job.jobId} is ${state} but has no finishedAt`);
    }
    const ran = starts.get(job.jobId) ?? [];
    if (ran.length === 0 && state !== 'CANCELLED') neverRan.push(job.jobId);
    const attempts = info.attempts + (input.attemptsBefore?.get(job.jobId) ?? 0);
    if (ran.length > attempts) {
      startsBeyondAttempts.push({ jobId: job.jobId, starts: ran.length, attempts });
    }
    if (state === 'COMPLETED') {
      const by = (info.result as { by?: unknown } | undefined)?.by;
      if (!ran.some((s) => s.agent === by)) {
        resultNotFromARunner.push({ jobId: job.jobId, result: info.result });
      }
    }
  }

  const duplicates: Duplicate[] = [];
  for (const [jobId, list] of starts) {
    if (list.length < 2) continue;
    const explainedBy: Array<string | undefined> = [];
    let planned = 0;
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const ending = endRecordOf(previous);
      if (ending?.ev === 'fail') {
        planned++;
        continue; // a retry of an attempt that failed as asked: no duplicate
      }
      const endedAt = ending?.t;
      const fault = faults.find(
        (f) => previous.t <= f.end + slack && (endedAt === undefined || endedAt >= f.start - slack),
      );
      explainedBy.push(fault ? `${fault.kind}@${fault.start}` : undefined);
    }
    if (list.length - planned < 2) continue;
    duplicates.push({
      jobId,
      starts: list.map((s) => {
        const endedAt = endOf(s);
        return { agent: s.agent, attempt: s.attempt, t: s.t, ...(endedAt ? { endedAt } : {}) };
      }),
      explainedBy,
    });
  }
  const unexplainedDuplicates = duplicates.filter((d) => d.explainedBy.includes(undefined));
  const startedButNotAcked = [...starts.keys()].filter((id) => !ackedIds.has(id));

  if (lost.length > 0) {
    violations.push(
      `${lost.length} acknowledged jobs never reached a terminal state: ${JSON.stringify(lost.slice(0, 10))}`,
    );
  }
  if (neverRan.length > 0) {
    violations.push(
      `${neverRan.length} jobs are terminal but no worker ever started them: ${neverRan.slice(0, 10).join(', ')}`,
    );
  }
  if (unexplainedDuplicates.length > 0) {
    violations.push(
      `${unexplainedDuplicates.length} jobs ran more than once without a fault to explain it: ${JSON.stringify(unexplainedDuplicates.slice(0, 5))}`,
    );
  }
  if (startsBeyondAttempts.length > 0) {
    violations.push(
      `jobs started more often than Redis counted attempts: ${JSON.stringify(startsBeyondAttempts.slice(0, 10))}`,
    );
  }
  if (resultNotFromARunner.length > 0) {
    violations.push(
      `completed jobs whose result names no agent that ran them: ${JSON.stringify(resultNotFromARunner.slice(0, 10))}`,
    );
  }
  return {
    acknowledged: acked.length,
    completed,
    dead,
    cancelled,
    lost,
    neverRan,
    duplicates,
    unexplainedDuplicates,
    startsBeyondAttempts,
    resultNotFromARunner,
    startedButNotAcked,
    violations,
  };
}

export interface Leftover {
  readonly queue: string;
  readonly tenant: string;
  readonly waiting: number;
  readonly delayed: number;
  readonly leased: number;
  readonly dead: number;
}

/**
 * Queue depths (Admin.GetStats) once every job ended: anything still waiting,
 * delayed, leased or dead belongs to no live job here, so it is state a fault
 * left behind (a stream entry nobody acked, a job in two places at once).
 * Polls until the depths read zero or `timeoutMs` passes; returns what is left.
 */
export async function leftovers(
  address: string,
  queue: string,
  {
    timeoutMs = 5000,
    intervalMs = 250,
    token,
  }: {
    timeoutMs?: number;
    intervalMs?: number;
    /** An admin's bearer token. */ token?: string;
  } = {},
): Promise<Leftover[]> {
  const clients = rawClients(address);
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      let rows: Leftover[] = [];
      try {
        const stats = await new Promise<Stats__Output>((resolve, reject) =>
          clients.admin.GetStats(
            { queue },
            metadata,
            { deadline: Date.now() + 2000 },
            (error, reply) =>
              error || !reply ? reject(error ?? new Error('no reply')) : resolve(reply),
          ),
        );
        rows = stats.entries
          .map((e) => ({
            queue: e.queue,
            tenant: e.tenant,
            waiting: Number(e.waiting),
            delayed: Number(e.delayed),
            leased: Number(e.leased),
            dead: Number(e.dead),
          }))
          .filter((r) => r.waiting + r.delayed + r.leased + r.dead > 0);
      } catch (error) {
        rows = [
          {
            queue,
            tenant: `GetStats failed: ${String(error)}`,
            waiting: -1,
            delayed: -1,
            leased: -1,
            dead: -1,
          },
        ];
      }
      if (rows.length === 0 || Date.now() > deadline) return rows;
      await sleep(intervalMs);
    }
  } finally {
    clients.close();
  }
}

/** One line for logs and failure messages. */
export function summarize(report: InvariantReport): string {
  return (
    `acknowledged ${report.acknowledged}, completed ${report.completed}, dead ${report.dead}, ` +
    `cancelled ${report.cancelled}, lost ${report.lost.length}, duplicated ${report.duplicates.length} ` +
    `(unexplained ${report.unexplainedDuplicates.length}), never ran ${report.neverRan.length}`
  );
}
