import { describe, expect, it } from 'vitest';
import { WeightedLine } from '../../src/scheduler/weighted-line.js';

/**
 * `turns` admissions of tenants that are back in line right after each turn,
 * fetching `jobs(tenant)` per turn; returns the jobs each was admitted for.
 */
function run(
  weights: Record<string, number>,
  turns: number,
  jobs: (tenant: string) => number = () => 1,
): Record<string, number> {
  const line = new WeightedLine();
  const admitted: Record<string, number> = {};
  for (const tenant of Object.keys(weights)) {
    line.add(tenant);
    admitted[tenant] = 0;
  }
  for (let turn = 0; turn < turns; turn++) {
    const tenant = line.shift()!;
    line.charge(tenant, jobs(tenant), weights[tenant]!);
    admitted[tenant]! += jobs(tenant);
    line.add(tenant);
  }
  return admitted;
}

describe('WeightedLine', () => {
  it('admits tenants that are always back in line in proportion to their weights', () => {
    const admitted = run({ heavy: 4, a: 1, b: 1, c: 1, d: 1 }, 800);
    expect(admitted.heavy).toBeGreaterThanOrEqual(398);
    expect(admitted.heavy).toBeLessThanOrEqual(402);
    for (const tenant of ['a', 'b', 'c', 'd']) {
      expect(admitted[tenant]).toBeGreaterThanOrEqual(98);
      expect(admitted[tenant]).toBeLessThanOrEqual(102);
    }
  });

  it('charges the jobs a turn fetched, not the turn', () => {
    // Equal weights: a tenant that fetches 4 jobs a turn gets a quarter of the turns.
    const admitted = run({ big: 1, small: 1 }, 500, (tenant) => (tenant === 'big' ? 4 : 1));
    expect(Math.abs(admitted.big! - admitted.small!)).toBeLessThanOrEqual(4);
  });

  it('serves equal weights first come, first served', () => {
    const line = new WeightedLine();
    for (const tenant of ['x', 'y', 'z']) line.add(tenant);
    const order: string[] = [];
    for (let turn = 0; turn < 6; turn++) {
      const tenant = line.shift()!;
      order.push(tenant);
      line.charge(tenant, 1, 1);
      line.add(tenant);
    }
    expect(order).toEqual(['x', 'y', 'z', 'x', 'y', 'z']);
  });

  it('gives a tenant back from a pause no credit for the turns it missed', () => {
    const line = new WeightedLine();
    line.add('busy');
    line.add('away');
    expect(line.shift()).toBe('busy');
    line.charge('busy', 1, 1);
    expect(line.shift()).toBe('away');
    line.charge('away', 1, 1);
    line.forget('away'); // it had no more work
    for (let turn = 0; turn < 50; turn++) {
      line.add('busy');
      line.charge(line.shift()!, 1, 1);
    }
    // Back: it takes turns with the busy tenant from now on, it is not served 50 times in a row.
    line.add('away');
    line.add('busy');
    const next = [line.shift()!];
    line.charge(next[0]!, 1, 1);
    line.add(next[0]!);
    next.push(line.shift()!);
    expect(next.sort()).toEqual(['away', 'busy']);
  });

  it('holds a tenant once however often it joins', () => {
    const line = new WeightedLine();
    line.add('t');
    line.add('t');
    expect(line.size).toBe(1);
    expect(line.has('t')).toBe(true);
    expect(line.shift()).toBe('t');
    expect(line.shift()).toBeUndefined();
    expect(line.has('t')).toBe(false);
  });
});
