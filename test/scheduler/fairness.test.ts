import { describe, expect, it } from 'vitest';
import { jain, setup } from './helpers.js';

interface Run {
  served: Record<string, number>;
  /** Largest |served_i − T × w_i / Σw| seen after any dispatch T. */
  maxDeviation: Record<string, number>;
  /** Lowest Jain's index over served_i / w_i once `jainFrom` dispatches were made. */
  minJain: number;
  finalJain: number;
  visitsPerDispatch: number;
}

/** Every tenant backlogged and unthrottled, `total` dispatches, checked after each one. */
function runBacklogged(
  weights: Record<string, number>,
  quantum: number,
  total: number,
  jainFrom: number,
): Run {
  const { limits, scheduler } = setup(quantum);
  const tenants = Object.keys(weights);
  const weightOf = (tenant: string): number => weights[tenant] ?? Number.NaN;
  const sumOfWeights = tenants.reduce((sum, tenant) => sum + weightOf(tenant), 0);
  for (const tenant of tenants) {
    limits.setTenant(tenant, { weight: weightOf(tenant) });
    scheduler.setAvailable(tenant, 1_000_000);
  }
  const served: Record<string, number> = Object.fromEntries(tenants.map((t) => [t, 0]));
  const maxDeviation: Record<string, number> = Object.fromEntries(tenants.map((t) => [t, 0]));
  let minJain = 1;
  let finalJain = 0;
  for (let done = 1; done <= total; done++) {
    const tenant = scheduler.next();
    if (tenant === undefined) throw new Error(`no dispatch at ${done} although all are backlogged`);
    served[tenant] = (served[tenant] ?? 0) + 1;
    for (const t of tenants) {
      const deviation = Math.abs((served[t] ?? 0) - (done * weightOf(t)) / sumOfWeights);
      maxDeviation[t] = Math.max(maxDeviation[t] ?? 0, deviation);
    }
    finalJain = jain(tenants.map((t) => (served[t] ?? 0) / weightOf(t)));
    if (done >= jainFrom) minJain = Math.min(minJain, finalJain);
  }
  return { served, maxDeviation, minJain, finalJain, visitsPerDispatch: scheduler.visits / total };
}

describe('FairScheduler fairness (all tenants backlogged, unthrottled)', () => {
  it('keeps weights 1:2:5 within one quantum × weight of their shares at every point over 10,000 dispatches', () => {
    const weights = { a: 1, b: 2, c: 5 };
    const run = runBacklogged(weights, 1, 10_000, 100);
    expect(run.served).toEqual({ a: 1250, b: 2500, c: 6250 });
    // Bound for integer quantum × w: quantum × w_i × (1 − w_i / Σw), i.e. 0.875, 1.5, 1.875.
    expect(run.maxDeviation.a).toBeLessThanOrEqual(0.875 + 1e-9);
    expect(run.maxDeviation.b).toBeLessThanOrEqual(1.5 + 1e-9);
    expect(run.maxDeviation.c).toBeLessThanOrEqual(1.875 + 1e-9);
    expect(run.minJain).toBeGreaterThanOrEqual(0.99); // from the 100th dispatch on
    expect(run.finalJain).toBeCloseTo(1, 12);
    expect(run.visitsPerDispatch).toBe(1);
  });

  it('keeps the bound with a larger quantum', () => {
    const weights = { a: 1, b: 2, c: 5 };
    const run = runBacklogged(weights, 4, 10_000, 1000);
    expect(run.maxDeviation.a).toBeLessThanOrEqual(4 * 1);
    expect(run.maxDeviation.b).toBeLessThanOrEqual(4 * 2);
    expect(run.maxDeviation.c).toBeLessThanOrEqual(4 * 5);
    expect(run.minJain).toBeGreaterThanOrEqual(0.99);
  });

  it.each([[{ a: 0.5, b: 1, c: 1.5 }], [{ a: 0.25, b: 0.5 }], [{ a: 0.3, b: 1.7, c: 2.2 }]])(
    'handles fractional weights %o within quantum × weight + 1',
    (weights: Record<string, number>) => {
      const run = runBacklogged(weights, 1, 10_000, 100);
      for (const [tenant, weight] of Object.entries(weights)) {
        expect(run.maxDeviation[tenant]).toBeLessThanOrEqual(weight + 1);
      }
      expect(run.minJain).toBeGreaterThanOrEqual(0.99);
      // Weights below 1 take several visits per dispatch, never more than 1 / (quantum × min weight).
      const minWeight = Math.min(...Object.values(weights));
      expect(run.visitsPerDispatch).toBeLessThanOrEqual(Math.ceil(1 / minWeight));
    },
  );

  it('serves a newly arriving tenant within one round, wherever the round stands', () => {
    const weights = { a: 1, b: 2, c: 3, d: 4, e: 5 };
    const round = 15; // Σ quantum × weight of the tenants already there
    for (let before = 0; before <= 2 * round; before++) {
      const { limits, scheduler } = setup();
      for (const [tenant, weight] of Object.entries(weights)) {
        limits.setTenant(tenant, { weight });
        scheduler.setAvailable(tenant, 1000);
      }
      for (let i = 0; i < before; i++) scheduler.next();
      scheduler.setAvailable('newcomer', 1000);
      let waited = 0;
      while (scheduler.next() !== 'newcomer') waited++;
      expect(waited).toBeLessThanOrEqual(round);
    }
  });
});
