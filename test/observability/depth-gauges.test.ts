import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { Keys } from '../../src/store/keys.js';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { scrape, value } from '../helpers/metrics.js';

// The depth gauges are read from Redis when a collection asks for them, not
// on a timer: a scrape right after an enqueue shows it, and a scrape while
// Redis hangs answers with the last reading rather than waiting for Redis.
const logged: Array<Record<string, unknown>> = [];
const h = useBroker({ metricsAddress: '127.0.0.1:0', onLog: (line) => logged.push(line) });

const freeze = (signal: 'SIGSTOP' | 'SIGCONT'): void => {
  process.kill(h.redis.pid!, signal);
};
const waiting = (series: Map<string, number>, tenant: string): number =>
  value(series, 'rota_queue_depth', `tenant="${tenant}",queue="gauged",state="waiting"`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('queue depth gauges', () => {
  let wake: NodeJS.Timeout | undefined;
  afterEach(() => {
    clearTimeout(wake);
    freeze('SIGCONT');
  });

  it('are read when scraped: the first scrape after an enqueue shows its jobs', async () => {
    await sleep(1100); // past the time two collections share a reading
    for (let i = 0; i < 3; i++) await h.enqueue({ tenant: 'fresh', queue: 'gauged' });
    // One scrape, no retries: with depths read every 5 s it showed the last reading, without these.
    expect(waiting(await scrape(h.broker.metricsUrl!), 'fresh')).toBe(3);
    await h.enqueue({ tenant: 'fresh', queue: 'gauged' });
    await sleep(1100);
    expect(waiting(await scrape(h.broker.metricsUrl!), 'fresh')).toBe(4);
  });

  it('report the last reading when Redis does not answer, and the new one once it does', async () => {
    await sleep(1100);
    for (let i = 0; i < 2; i++) await h.enqueue({ tenant: 'hung', queue: 'gauged' });
    expect(waiting(await scrape(h.broker.metricsUrl!), 'hung')).toBe(2);
    await h.enqueue({ tenant: 'hung', queue: 'gauged' });
    await sleep(1100);
    freeze('SIGSTOP');
    // Redis wakes 4 s on, before the broker's Redis timeout (10 s): a scrape that
    // waited for the read would show 3; it waits 2 s at most and shows the last reading.
    wake = setTimeout(() => freeze('SIGCONT'), 4000);
    expect(waiting(await scrape(h.broker.metricsUrl!), 'hung')).toBe(2);
    await eventually(async () =>
      waiting(await scrape(h.broker.metricsUrl!), 'hung') === 3 ? true : undefined,
    );
    // That read took the 4 s Redis hung; its reading serves 5 s at most, not 20 times 4 s.
    await h.enqueue({ tenant: 'hung', queue: 'gauged' });
    await sleep(5100);
    expect(waiting(await scrape(h.broker.metricsUrl!), 'hung')).toBe(4);
  }, 30_000);

  it('report the last reading, and log why, when the read fails', async () => {
    await sleep(1100);
    await h.enqueue({ tenant: 'unread', queue: 'gauged' });
    expect(waiting(await scrape(h.broker.metricsUrl!), 'unread')).toBe(1);
    await h.enqueue({ tenant: 'unread', queue: 'gauged' });
    // The set of queues made another type: the read's SMEMBERS fails (WRONGTYPE).
    const queues = new Keys(h.broker.config.keyPrefix).queues();
    const redis = new Redis(h.redis.url);
    try {
      const names = await redis.smembers(queues);
      await redis.del(queues);
      await redis.set(queues, 'not a set');
      await sleep(1100);
      expect(waiting(await scrape(h.broker.metricsUrl!), 'unread')).toBe(1);
      expect(logged).toContainEqual(
        expect.objectContaining({ msg: 'could not read queue depths for metrics' }),
      );
      await redis.del(queues);
      await redis.sadd(queues, ...names);
      await sleep(1100);
      expect(waiting(await scrape(h.broker.metricsUrl!), 'unread')).toBe(2);
    } finally {
      redis.disconnect();
    }
  });
});
