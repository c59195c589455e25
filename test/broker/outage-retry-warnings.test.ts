/**
 * Writes that fail while Redis is down and are tried again every second, each
 * batch or lease on its own: the log says so once a second however many
 * wait, and counts the lines it left out. (Lease writes: see
 * lease-write-outage.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import {
  expectThrottled,
  useOutageBroker,
  workersHoldingJobs,
} from '../helpers/throttled-outage.js';

const { h, logged } = useOutageBroker();

const WORKERS = 5;

describe('ack writes during a Redis outage', () => {
  const OUTAGE_MS = 4000;

  it('logs their failures at most once a second, with the count left out, and records the acks once Redis is back', async () => {
    const { workers, leases } = await workersHoldingJobs(h, 'ack-outage', WORKERS);

    await h.redis.kill();
    // Each worker's ack is a batch of its own; it fails at the latest 1 s
    // after it is sent and is written again a second later: two tries each.
    workers.forEach((worker, i) => worker.complete(leases[i]!, Buffer.from(`done by w${i}`)));
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const warnings = logged.filter((line) => String(line.msg).startsWith('recording acks failed'));
    await h.redis.restart();

    // Unthrottled: a line per batch each time it is tried (10 lines here).
    expectThrottled(warnings, OUTAGE_MS);
    for (const [i, lease] of leases.entries()) {
      const job = await h.waitState('acme', lease.job_id, 'COMPLETED', 15_000);
      expect(job.attempts).toBe(1);
      expect(job.result.toString()).toBe(`done by w${i}`);
    }
  }, 30_000);
});

describe('timeouts during a Redis outage', () => {
  const TIMEOUT_MS = 1000;
  const OUTAGE_MS = 5500;

  it('logs the failed revocations at most once a second, with the count left out, and revokes once Redis is back', async () => {
    // One attempt: a timed-out job goes dead, and no retry is leased again.
    const { workers, leases } = await workersHoldingJobs(h, 'timeout-outage', WORKERS, {
      tenant: 'acme',
      timeout_ms: TIMEOUT_MS,
      max_attempts: 1,
    });

    await h.redis.kill();
    // Each lease times out after 1 s; its revocation fails 1 s later (the
    // command timeout) and is tried again a second after that: two tries each.
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const warnings = logged.filter(
      (line) => line.reason === 'timeout' && String(line.msg).includes('failed'),
    );
    await h.redis.restart();

    // Unthrottled: a line per lease each time it is tried (10 lines here).
    expectThrottled(warnings, OUTAGE_MS);
    for (const [i, lease] of leases.entries()) {
      await expect.poll(() => workers[i]!.cancels(), { timeout: 15_000 }).toEqual([lease.job_id]);
      const job = await h.waitState('acme', lease.job_id, 'DEAD', 15_000);
      expect(job.last_error).toBe(`timed out after ${TIMEOUT_MS} ms`);
    }
  }, 30_000);
});
