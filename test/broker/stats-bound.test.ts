import { describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';

/**
 * ROTA_STATS_MAX_PAIRS bounds the broker's memory for GetStats: past it the
 * rates and percentiles of the longest idle queue × tenant pairs are forgotten
 * (with a warning), while their depths, read from Redis, stay.
 */
const logs: Array<Record<string, unknown>> = [];
const h = useBroker({ onLog: (line) => logs.push(line), statsMaxPairs: 3 });

describe('stats bound', () => {
  it('forgets the rates of the longest idle pairs past it, keeps every depth, and warns once a minute', async () => {
    const queue = 'bounded';
    const tenants = ['t1', 't2', 't3', 't4', 't5'];
    for (const tenant of tenants) await h.enqueue({ tenant, queue, payload: Buffer.from(tenant) });
    const { entries } = await h.stats({ queue });
    expect(
      entries.map((entry) => [entry.tenant, Number(entry.waiting) + Number(entry.leased)]),
    ).toEqual(tenants.map((tenant) => [tenant, 1]));
    const withRates = entries.filter((entry) => entry.enqueued_per_second > 0);
    expect(withRates.map((entry) => entry.tenant)).toEqual(['t3', 't4', 't5']);

    const said = logs.filter((line) => String(line.msg).includes('ROTA_STATS_MAX_PAIRS'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 40, forgotten: 1, statsMaxPairs: 3 });
  });
});
