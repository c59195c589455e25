import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { checkHealth, serviceClient } from '../helpers/health.js';

// A Redis that stops answering but keeps its connections open (SIGSTOP: as a
// hung server, or a network that drops packets without a reset).
const h = useBroker({ redisTimeoutMs: 1000 });

const freeze = (signal: 'SIGSTOP' | 'SIGCONT'): void => {
  process.kill(h.redis.pid!, signal);
};

describe('Redis that hangs', () => {
  afterEach(() => freeze('SIGCONT'));

  it('answers UNAVAILABLE instead of hanging, keeps acks, and resumes when Redis answers', async () => {
    const health = serviceClient(h.broker.address, healthProtoPath, 'grpc.health.v1.Health');
    onTestFinished(() => health.close());
    const worker = await h.worker({ queues: ['hang'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'hang' });
    const [lease] = await worker.take(1);

    freeze('SIGSTOP');
    // Without the timeout these calls waited for Redis for as long as it hung.
    const refused = (await h.enqueue({ tenant: 'acme', queue: 'hang' }).then(
      () => undefined,
      (e: unknown) => e,
    )) as ServiceError;
    expect(refused.code).toBe(status.UNAVAILABLE);
    // The enqueue waits in the hung Redis, which may run it when it wakes: the answer says so.
    expect(refused.details).toMatch(
      /^Redis is unreachable \(Command timed out\): the call may still take effect when Redis answers; retry it \(an Enqueue retried with the same idempotency_key stores its job once; GetJob tells whether it was stored\)$/,
    );
    worker.complete(lease!, Buffer.from('done while Redis hung')); // kept until Redis answers
    await eventually(async () =>
      (await checkHealth(health, '')) === 'NOT_SERVING' ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    freeze('SIGCONT');

    await eventually(async () =>
      (await checkHealth(health, '')) === 'SERVING' ? true : undefined,
    );
    const job = await h.waitState('acme', job_id, 'COMPLETED', 15_000);
    expect(job.attempts).toBe(1);
    expect(job.result.toString()).toBe('done while Redis hung');
    // The refused enqueue reached Redis before it stopped: Redis ran it when it
    // woke, and the broker, which had given the call up, gave back the job its
    // claim had leased for the idle worker. It runs too, as a first attempt.
    const after = await h.enqueue({ tenant: 'acme', queue: 'hang' });
    const ran: string[] = [];
    while (!ran.includes(after.job_id)) {
      const [next] = await worker.take(1, 15_000);
      expect(next!.attempt).toBe(1);
      worker.complete(next!);
      ran.push(next!.job_id);
    }
    expect(ran.length).toBeLessThanOrEqual(2);
    await h.waitState('acme', after.job_id, 'COMPLETED');
  }, 30_000);
});
