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
