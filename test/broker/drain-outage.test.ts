import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';

// Redis with AOF appendfsync always: every acknowledged write survives its SIGKILL.
const h = useBroker({}, { appendfsync: 'always' });

describe('graceful shutdown during a Redis outage', () => {
  it('keeps a draining broker up until an ack that waits for Redis is recorded', async () => {
    // An acked lease leaves its session's slots before Redis has the outcome;
    // a shutdown must still wait for that write, or the job would run again.
    const worker = await h.worker({ queues: ['drain'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'drain' });
    const [lease] = await worker.take(1);
    await h.redis.kill();
    worker.complete(lease!, Buffer.from('acked while Redis was down'));
    const stopped = h.broker.shutdown(10_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the write fails and is retried
    await h.redis.restart();
    await stopped;

    await h.restartBroker();
    const job = await h.getJob('acme', job_id);
    expect(job.state).toBe('COMPLETED');
    expect(job.result.toString()).toBe('acked while Redis was down');
  });
});
