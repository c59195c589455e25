import { afterEach, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { scrape, value } from '../helpers/metrics.js';

// The depth gauges are read from Redis when a collection asks for them, not
// on a timer: a scrape right after an enqueue shows it, and a scrape while
// Redis hangs answers with the last reading rather than waiting for Redis.
const h = useBroker({ metricsAddress: '127.0.0.1:0' });

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
  }, 30_000);
});
