/**
 * What the producer fuzz stored, item by item, for the invariants of tokens:
 * an item whose token may not name its tenant is answered PERMISSION_DENIED
 * (or the whole call UNAUTHENTICATED) with no job id, and stores nothing; an
 * item let through is never refused for the token, and an accepted one is
 * stored once (a fresh job id is never answered twice) and can be read back.
 *
 * "Stores nothing" is probed at the end: each refused item's idempotency key is
 * enqueued again, under the same tenant and queue, with the unscoped producer
 * token; had the refused item been stored, that answers `duplicate`. Keys also
 * sent in items that were let through (or whose outcome is unknown) prove
 * nothing and are not probed.
 */
import * as grpc from '@grpc/grpc-js';

import { Producer } from '../../clients/producer.js';
import { RotaError } from '../../clients/errors.js';
import { isName } from '../../src/broker/validation.js';
import type { EnqueueRequest__Output } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResult__Output } from '../../src/generated/rota/v1/EnqueueResult.js';
import { codeName } from './fixture.js';
import { refusalFor, tokenOf, type Caller } from './credentials.js';

/** How many refused items, and accepted jobs, the end checks look at (the newest). */
const PROBES = 300;

interface Refused {
  readonly tenant: string;
  readonly queue: string;
  readonly key: string;
  readonly where: string;
}

export class EnqueueLedger {
  /** Accepted jobs: id → tenant. */
  readonly #accepted = new Map<string, string>();
  readonly #refused: Refused[] = [];
  /** `tenant key` of items let through, or whose outcome is unknown. */
  readonly #sentKeys = new Set<string>();
  /** Tenants whose dead letters a call deleted: their accepted jobs may be gone. */
  readonly #deletedFrom = new Set<string>();
  refusedItems = 0;
  acceptedItems = 0;

  /**
   * Checks the answer to `jobs` item by item against `caller`'s token (one
   * that may make the call); returns what does not fit.
   */
  answered(
    caller: Caller,
    jobs: readonly EnqueueRequest__Output[],
    results: readonly EnqueueResult__Output[],
    where: string,
  ): string[] {
    const problems: string[] = [];
    if (results.length !== jobs.length) {
      return [`${where}: ${results.length} results for ${jobs.length} jobs`];
    }
    jobs.forEach((job, i) => {
      const result = results[i]!;
      const code = result.code as grpc.status;
      const expected = refusalFor(caller, 'producer', [job.tenant]);
      const item = `${where} item ${i} (tenant "${job.tenant.slice(0, 40)}", token ${caller.name})`;
      if (expected !== undefined) {
        if (code !== expected || result.job_id !== '') {
          problems.push(
            `${item}: answered ${codeName(code)} job "${result.job_id}", not ${codeName(expected)}`,
          );
        }
        this.refused([job], where);
        return;
      }
      if (code === grpc.status.PERMISSION_DENIED || code === grpc.status.UNAUTHENTICATED) {
        problems.push(`${item}: refused ${codeName(code)} "${result.error}" though its token may`);
      }
      this.sent([job]);
      if (code !== grpc.status.OK) return;
      this.acceptedItems++;
      if (result.duplicate) return;
      const earlier = this.#accepted.get(result.job_id);
      if (earlier !== undefined) {
        problems.push(`${item}: job ${result.job_id} answered as a new job twice`);
      }
      this.#accepted.delete(result.job_id); // the newest last
      this.#accepted.set(result.job_id, job.tenant);
    });
    return problems;
  }

  /** Items refused for the token as a whole call: none may be stored. */
  refused(jobs: readonly EnqueueRequest__Output[], where: string): void {
    for (const job of jobs) {
      this.refusedItems++;
      this.#refused.push({ tenant: job.tenant, queue: job.queue, key: job.idempotency_key, where });
    }
  }

  /** Items that may be stored (let through, or their outcome is unknown). */
  sent(jobs: readonly EnqueueRequest__Output[]): void {
    for (const job of jobs) this.#sentKeys.add(`${job.tenant} ${job.idempotency_key}`);
  }

  deletedDeadLetters(tenant: string): void {
    this.#deletedFrom.add(tenant);
  }

  /** The end checks (see the top of the file); returns what does not hold. */
  async check(address: string): Promise<{ problems: string[]; probed: number; read: number }> {
    const producer = new Producer({ address, token: tokenOf('producer'), timeoutMs: 10_000 });
    const problems: string[] = [];
    try {
      const probes = new Map<string, Refused>();
      for (const item of this.#refused) {
        // Keys are the tenant's, whatever the queue: one probe per key, or the second answers the first.
        const probe = `${item.tenant} ${item.key}`;
        const probeable =
          isName(item.tenant) &&
          isName(item.queue) &&
          item.key !== '' &&
          !this.#sentKeys.has(`${item.tenant} ${item.key}`);
        if (probeable) probes.set(probe, item);
      }
      const probed = [...probes.values()].slice(-PROBES);
      await inParallel(probed, async (item) => {
        try {
          const { jobId, duplicate } = await producer.enqueue({
            tenant: item.tenant,
            queue: item.queue,
            payload: { probe: true },
            idempotencyKey: item.key,
          });
          if (duplicate) {
            problems.push(
              `${item.where}: refused for its token, yet its idempotency key "${item.key.slice(0, 60)}" of ${item.tenant}/${item.queue} answers job ${jobId}`,
            );
          }
        } catch (error) {
          // Past max_queued: not a duplicate either; a key that is not valid: nothing to tell.
          const inconclusive =
            error instanceof RotaError &&
            ((error.code as grpc.status) === grpc.status.RESOURCE_EXHAUSTED ||
              (error.code as grpc.status) === grpc.status.INVALID_ARGUMENT);
          if (!inconclusive) problems.push(`probe of ${item.where} failed: ${String(error)}`);
        }
      });
      const accepted = [...this.#accepted].slice(-PROBES);
      await inParallel(accepted, async ([jobId, tenant]) => {
        try {
          const job = await producer.getJob(tenant, jobId);
          if (job.tenant !== tenant)
            problems.push(`job ${jobId} of ${tenant} reads as ${job.tenant}'s`);
        } catch (error) {
          const deleted =
            error instanceof RotaError &&
            (error.code as grpc.status) === grpc.status.NOT_FOUND &&
            this.#deletedFrom.has(tenant);
          if (!deleted)
            problems.push(`accepted job ${tenant}/${jobId} does not read: ${String(error)}`);
        }
      });
      return { problems, probed: probed.length, read: accepted.length };
    } finally {
      await producer.close();
    }
  }
}

/** Runs `task` over `items`, 20 at a time. */
async function inParallel<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 20) await Promise.all(items.slice(i, i + 20).map(task));
}
