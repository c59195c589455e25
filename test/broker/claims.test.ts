import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { monitor } from '../helpers/monitor.js';

// A long lease TTL: no recovery sweep (every half TTL) runs a script during a test.
const h = useBroker({ leaseTtlMs: 60_000, heartbeatIntervalMs: 1000 });
let redis: Redis;

beforeAll(() => {
  redis = new Redis(h.redis.url);
});
afterAll(() => {
  redis.disconnect();
});

/** Starts counting the scripts Redis runs (EVALSHA, EVAL); the returned function stops and tells. */
async function countScripts(): Promise<() => Promise<number>> {
  let scripts = 0;
  let sawEnd: () => void = () => undefined;
  const end = new Promise<void>((resolve) => (sawEnd = resolve));
  const stop = await monitor(h.redis.port, ([command = '', arg]) => {
    if (/^eval(sha)?$/i.test(command)) scripts++;
    else if (/^echo$/i.test(command) && arg === 'end of count') sawEnd();
  });
  return async () => {
    await redis.echo('end of count'); // MONITOR shows it after every command Redis ran before
    await end;
    stop();
    return scripts;
  };
}

describe('claims (the fetch an enqueue does in its own script)', () => {
  it('hold a slot per job they store, so a second tenant’s job is leased by its own claim', async () => {
    const worker = await h.worker({ queues: ['claims'], capacity: 4 });
    const scripts = await countScripts();
    // Redis holds writes for a moment: the second enqueue comes while the
    // first one's script (and claim) still waits for its answer.
    await redis.call('CLIENT', 'PAUSE', '500', 'WRITE');
    const first = h.enqueue({ tenant: 'one', queue: 'claims' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = h.enqueue({ tenant: 'two', queue: 'claims' });
    const ids = [(await first).job_id, (await second).job_id];
    const leases = await worker.take(2);
    expect(leases.map((lease) => lease.job_id).sort()).toEqual([...ids].sort());
    // Each enqueue script leased its job. When the first claim held all four
    // slots, the second job was only read and then leased by a script of its own.
    expect(await scripts()).toBe(2);
    for (const lease of leases) worker.complete(lease);
    await h.waitState('two', ids[1]!, 'COMPLETED');
  });
});
