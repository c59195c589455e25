/**
 * The soak's mixed workload (`bench/soak.ts --mix`): shapes the jobs of a
 * LoadGenerator, runs the producer calls that follow an Enqueue (CancelJob,
 * a second Enqueue under the same idempotency key), and checks what each job
 * promised beyond the delivery invariants of invariants.ts:
 *
 * - flaky jobs fail their first 1–2 attempts (the agent reads `failFirst` in
 *   the payload) and complete on a later one, within a budget faults cannot
 *   use up: their result must come from an attempt after the planned failures;
 * - poison jobs fail every attempt until the agents are healed, with 2
 *   attempts: they must go DEAD with their error, and the replay of the dead
 *   letters at the end must run each to completion;
 * - delayed jobs (0.2–3 s) must not start before their run time;
 * - cancelled jobs (CancelJob shortly after the Enqueue, retried until it
 *   answers) must end as the answer said: CANCELLED when it cancelled them (or
 *   found them cancelled), else the terminal state it reported; and none may
 *   start once CANCELLED was answered (README: a cancelled lease is revoked
 *   and its worker told to stop; a lease on its way may still start, so a
 *   start counts only after CANCEL_START_SLACK_MS), and a handler running
 *   when CANCELLED was answered must be told to stop within
 *   CANCEL_STOP_SLACK_MS unless a fault is in the way;
 * - re-enqueued jobs (the same request again, after the ack) must be answered
 *   `duplicate` with the first job's id.
 * Priorities 0–3 are spread over all jobs; nothing checks their order, which
 * faults and fairness blur, but they go through every fault.
 */
import * as grpc from '@grpc/grpc-js';

import { RotaError } from '../../clients/errors.js';
import type { JobInfo, JobInput } from '../../clients/job.js';
import type { Producer } from '../../clients/producer.js';
import type { FaultWindow } from './invariants.js';
import { attemptsOf, type JournalRecord } from './journal.js';
import type { AckedJob } from './load.js';
import { sleep } from './processes.js';
import { prng } from '../helpers/prng.js';

type Kind = 'plain' | 'flaky' | 'poison';

interface Plan {
  readonly kind: Kind;
  readonly failFirst: number;
  readonly delayMs: number;
  readonly cancelAfterMs: number | undefined;
  readonly reEnqueueAfterMs: number | undefined;
}

interface CancelOutcome {
  /** When the first CancelJob was sent. */
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly cancelled: boolean;
  readonly state: string;
}

/** Attempts of a poison job: all fail until the replay. */
const POISON_ATTEMPTS = 2;
/** A flaky job's budget beyond its planned failures, so lease expiries in faults do not kill it. */
const FLAKY_SPARE_ATTEMPTS = 20;
/** Clock leeway of the run-time check (one machine, one clock: scheduling jitter only). */
const RUN_AT_TOLERANCE_MS = 50;
/** A lease written before the cancel may still reach its worker and start just after the answer. */
const CANCEL_START_SLACK_MS = 1000;
/** How long a follow-up call (cancel, re-enqueue) keeps retrying an unreachable broker. */
const FOLLOW_UP_GIVE_UP_MS = 60_000;
/** A running job's worker is told of its cancel within this long, unless a fault is in the way. */
const CANCEL_STOP_SLACK_MS = 1000;
/** How long after a fault a connection may still be coming back. */
const FAULT_SLACK_MS = 3000;
const RETRYABLE = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

function planOf(seq: number): Plan {
  // a generator per job, so a run's mix depends on its seq only
  const next = prng(((seq + 1) * 0x9e3779b1) >>> 0);
  const roll = next();
  const kind: Kind = roll < 0.05 ? 'poison' : roll < 0.2 ? 'flaky' : 'plain';
  const delayed = next() < 0.2;
  const cancel = kind !== 'poison' && next() < 0.1;
  const reEnqueue = next() < 0.08;
  return {
    kind,
    failFirst: kind === 'flaky' ? 1 + Math.floor(next() * 2) : 0,
    delayMs: delayed ? 200 + Math.floor(next() * 2800) : 0,
    cancelAfterMs: cancel ? Math.floor(next() * 600) : undefined,
    reEnqueueAfterMs: reEnqueue ? Math.floor(next() * 1500) : undefined,
  };
}

export class MixedWorkload {
  readonly #plans = new Map<string, Plan>();
  readonly #cancels = new Map<string, CancelOutcome>();
  readonly #pending = new Set<Promise<void>>();
  /** Problems of the follow-up calls themselves (a wrong answer, a give-up). */
  readonly #violations: string[] = [];
  #reEnqueued = 0;
  /** Cancelled handlers told to stop only after CANCEL_STOP_SLACK_MS (in a fault). */
  #stoppedLate = 0;

  /** For LoadOptions.shapeJob. */
  readonly shapeJob = (job: JobInput, seq: number): JobInput => {
    const plan = planOf(seq);
    this.#plans.set(job.idempotencyKey!, plan);
    const payload = job.payload as Record<string, unknown>;
    return {
      ...job,
      priority: seq % 4,
      ...(plan.delayMs > 0 ? { delayMs: plan.delayMs } : {}),
      ...(plan.kind === 'flaky'
        ? {
            payload: { ...payload, failFirst: plan.failFirst },
            maxAttempts: plan.failFirst + FLAKY_SPARE_ATTEMPTS,
            backoff: { initialMs: 20, maxMs: 200 },
          }
        : {}),
      ...(plan.kind === 'poison'
        ? {
            payload: { ...payload, poison: true },
            maxAttempts: POISON_ATTEMPTS,
            backoff: { initialMs: 20, maxMs: 100 },
          }
        : {}),
    };
  };

  /** For LoadOptions.onAcked: schedules the job's cancel and re-enqueue. */
  readonly onAcked = (acked: AckedJob, job: JobInput, producer: Producer): void => {
    const plan = this.#plans.get(acked.key);
    if (plan?.cancelAfterMs !== undefined) {
      this.#track(sleep(plan.cancelAfterMs).then(() => this.#cancel(acked, producer)));
    }
    if (plan?.reEnqueueAfterMs !== undefined) {
      this.#track(sleep(plan.reEnqueueAfterMs).then(() => this.#reEnqueue(acked, job, producer)));
    }
  };

  /** Waits for the cancels and re-enqueues under way. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  /** The acked jobs that go DEAD before the replay. */
  poisoned(acked: readonly AckedJob[]): AckedJob[] {
    return acked.filter((a) => this.#plans.get(a.key)?.kind === 'poison');
  }

  /** Terminal state of each job whose state is not COMPLETED after the replay. */
  expectedStates(acked: readonly AckedJob[]): Map<string, string> {
    const expected = new Map<string, string>();
    for (const job of acked) {
      const cancel = this.#cancels.get(job.jobId);
      if (cancel === undefined) continue;
      expected.set(job.jobId, cancel.cancelled ? 'CANCELLED' : cancel.state);
    }
    return expected;
  }

  counts(acked: readonly AckedJob[]): Record<string, number> {
    const counts: Record<string, number> = {
      flaky: 0,
      poison: 0,
      delayed: 0,
      cancelAsked: 0,
      cancelledByCall: 0,
      reEnqueued: this.#reEnqueued,
      cancelReachedWorkerLate: this.#stoppedLate,
    };
    for (const job of acked) {
      const plan = this.#plans.get(job.key);
      if (plan?.kind === 'flaky') counts.flaky!++;
      if (plan?.kind === 'poison') counts.poison!++;
      if (plan?.delayMs) counts.delayed!++;
      if (plan?.cancelAfterMs !== undefined) counts.cancelAsked!++;
      if (this.#cancels.get(job.jobId)?.cancelled) counts.cancelledByCall!++;
    }
    return counts;
  }

  /**
   * What the mix promised, checked on the records read once every job was
   * terminal and before the replay: the poison jobs dead with their error.
   */
  checkBeforeReplay(
    acked: readonly AckedJob[],
    records: ReadonlyMap<string, JobInfo | undefined>,
    faults: readonly FaultWindow[],
  ): string[] {
    const violations: string[] = [];
    for (const job of acked) {
      const info = records.get(job.jobId);
      if (info?.state === 'DEAD' && this.#plans.get(job.key)?.kind !== 'poison') {
        violations.push(
          `job ${job.jobId} (${job.tenant}) went DEAD after ${info.attempts} attempts, last error: ${info.lastError}`,
        );
      }
    }
    for (const job of this.poisoned(acked)) {
      const info = records.get(job.jobId);
      if (info?.state !== 'DEAD') {
        violations.push(`poison job ${job.jobId} is ${info?.state ?? 'NOT_FOUND'}, expected DEAD`);
        continue;
      }
      if (info.lastError.includes('poison attempt')) continue;
      // A lease that expired in a fault uses up an attempt with its own error.
      const inFault = faults.some(
        (f) => f.end >= job.firstTryAt && f.start <= (info.finishedAt ?? Date.now()),
      );
      if (!inFault || info.lastError === '') {
        violations.push(
          `poison job ${job.jobId} is DEAD with last error '${info.lastError}', expected its own ('poison attempt n')`,
        );
      }
    }
    return violations;
  }

  /**
   * What the mix promised, checked on the final records and the journal:
   * run times, cancels, flaky results, re-enqueue answers, replayed poison.
   */
  check(input: {
    acked: readonly AckedJob[];
    records: ReadonlyMap<string, JobInfo | undefined>;
    journal: readonly JournalRecord[];
    faults: readonly FaultWindow[];
    replayedAt: number | undefined;
  }): string[] {
    const violations = [...this.#violations];
    const { starts, endOf } = attemptsOf(input.journal);
    const inFault = (from: number, to: number): boolean =>
      input.faults.some((f) => f.start <= to && f.end + FAULT_SLACK_MS >= from);
    for (const job of input.acked) {
      const plan = this.#plans.get(job.key);
      const info = input.records.get(job.jobId);
      if (!plan || !info) continue; // lost: invariants.ts reports it
      const ran = starts.get(job.jobId) ?? [];
      if (plan.delayMs > 0) {
        const runAt = job.firstTryAt + plan.delayMs;
        const early = ran.find((s) => s.t < runAt - RUN_AT_TOLERANCE_MS);
        if (early) {
          violations.push(
            `delayed job ${job.jobId} (delay ${plan.delayMs} ms) started ${runAt - early.t} ms before its run time`,
          );
        }
      }
      const cancel = this.#cancels.get(job.jobId);
      if (cancel && (cancel.cancelled || cancel.state === 'CANCELLED')) {
        const late = ran.find((s) => s.t > cancel.answeredAt + CANCEL_START_SLACK_MS);
        if (late) {
          violations.push(
            `job ${job.jobId} started (attempt ${late.attempt}, ${late.agent}) ${late.t - cancel.answeredAt} ms after CancelJob answered it CANCELLED`,
          );
        }
        if (info.result !== undefined) {
          violations.push(
            `cancelled job ${job.jobId} has a result: ${JSON.stringify(info.result)}`,
          );
        }
        for (const start of ran.filter((s) => s.t <= cancel.answeredAt)) {
          const end = endOf(start);
          if (!end || end.t <= cancel.answeredAt + CANCEL_STOP_SLACK_MS) continue;
          if (end.ev === 'aborted' && end.reason === 'cancelled') this.#stoppedLate++;
          else if (!inFault(start.t, end.t)) {
            violations.push(
              `cancelled job ${job.jobId} ran on (attempt ${start.attempt}, ${start.agent}) until ${end.ev} ${end.t - cancel.answeredAt} ms after CancelJob answered CANCELLED, with no fault to keep its worker from being told`,
            );
          }
        }
      }
      if (
        cancel &&
        !cancel.cancelled &&
        !['COMPLETED', 'DEAD', 'CANCELLED'].includes(cancel.state)
      ) {
        violations.push(
          `CancelJob of ${job.jobId} answered cancelled=false with state ${cancel.state}, which is not terminal`,
        );
      }
      if (plan.kind === 'flaky' && info.state === 'COMPLETED') {
        const attempt = (info.result as { attempt?: number } | undefined)?.attempt ?? 0;
        if (attempt <= plan.failFirst || info.attempts < attempt) {
          violations.push(
            `flaky job ${job.jobId} (fails attempts 1–${plan.failFirst}) completed by attempt ${attempt}, ${info.attempts} attempts counted`,
          );
        }
      }
      if (plan.kind === 'poison' && input.replayedAt !== undefined) {
        if (info.state === 'COMPLETED' && !ran.some((s) => s.t >= input.replayedAt!)) {
          violations.push(`poison job ${job.jobId} completed without a start after the replay`);
        }
      }
    }
    return violations;
  }

  #track(work: Promise<void>): void {
    const tracked = work.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /** Calls `call` until the broker answers, or records a give-up. */
  async #untilAnswered<T>(what: string, call: () => Promise<T>): Promise<T | undefined> {
    const giveUpAt = Date.now() + FOLLOW_UP_GIVE_UP_MS;
    for (;;) {
      try {
        return await call();
      } catch (error) {
        const retryable = error instanceof RotaError && RETRYABLE.has(error.code);
        if (!retryable || Date.now() > giveUpAt) {
          this.#violations.push(
            `${what}: ${error instanceof Error ? error.message : String(error)}${retryable ? ' (gave up)' : ''}`,
          );
          return undefined;
        }
        await sleep(50 + Math.random() * 50);
      }
    }
  }

  async #cancel(job: AckedJob, producer: Producer): Promise<void> {
    const sentAt = Date.now();
    const reply = await this.#untilAnswered(`CancelJob of ${job.jobId}`, () =>
      producer.cancel(job.tenant, job.jobId),
    );
    if (!reply) return;
    this.#cancels.set(job.jobId, { sentAt, answeredAt: Date.now(), ...reply });
  }

  async #reEnqueue(acked: AckedJob, job: JobInput, producer: Producer): Promise<void> {
    const reply = await this.#untilAnswered(`re-enqueue of ${acked.key}`, () =>
      producer.enqueue(job),
    );
    if (!reply) return;
    this.#reEnqueued++;
    if (!reply.duplicate || reply.jobId !== acked.jobId) {
      this.#violations.push(
        `re-enqueue under key ${acked.key} answered ${JSON.stringify(reply)}, expected a duplicate of ${acked.jobId}`,
      );
    }
  }
}
