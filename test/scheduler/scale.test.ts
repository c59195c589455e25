import { describe, expect, it } from 'vitest';
import { setup } from './helpers.js';

/**
 * Work is counted with `scheduler.visits` (entries examined), never with the
 * wall clock: a scheduler that scanned parked tenants would show ~N visits per
 * dispatch here.
 */
describe('FairScheduler per-dispatch work with many tenants', () => {
  /** 10 busy tenants among N, the others idle, throttled for long, or at maxInFlight. */
  function visitsPerDispatchAmongParked(tenants: number): number {
    const { clock, limits, scheduler } = setup();
    for (let i = 0; i < tenants; i++) {
      const tenant = `t${i}`;
      if (i < 10) {
        scheduler.setAvailable(tenant, 1_000_000);
      } else if (i % 3 === 0) {
        scheduler.setAvailable(tenant, 0); // known, nothing buffered
      } else if (i % 3 === 1) {
        limits.setTenant(tenant, { rate: 0.01, burst: 1 }); // one dispatch, then 100 s wait
        scheduler.setAvailable(tenant, 100);
      } else {
        limits.setTenant(tenant, { maxInFlight: 1 }); // one dispatch, never released
        scheduler.setAvailable(tenant, 100);
      }
    }
    for (let i = 0; i < 2 * tenants; i++) scheduler.next(); // warm-up: everyone parked once
    expect(scheduler.ready).toBe(10);
    const visitsBefore = scheduler.visits;
    const dispatches = 10_000;
    for (let i = 0; i < dispatches; i++) {
      clock.advance(1);
      if (scheduler.next() === undefined) throw new Error('the busy tenants are backlogged');
    }
    expect(scheduler.size).toBe(tenants);
    return (scheduler.visits - visitsBefore) / dispatches;
  }

  it('stays at one visit per dispatch whether 10 or 10,000 tenants are parked', () => {
    expect(visitsPerDispatchAmongParked(20)).toBe(1);
    expect(visitsPerDispatchAmongParked(10_000)).toBe(1);
  });

  /** N tenants at 1/s each; the dispatcher sleeps until nextWakeAt whenever next() has nothing. */
  function visitsPerDispatchAllThrottled(tenants: number): number {
    const { clock, limits, scheduler } = setup();
    for (let i = 0; i < tenants; i++) {
      limits.setTenant(`t${i}`, { rate: 1, burst: 1 });
      scheduler.setAvailable(`t${i}`, 1_000_000);
    }
    let dispatches = 0;
    while (clock.now < 5000) {
      if (scheduler.next() !== undefined) dispatches++;
      else clock.now = scheduler.nextWakeAt() ?? Infinity;
    }
    expect(dispatches).toBe(5 * tenants); // each exactly at its rate
    return scheduler.visits / dispatches;
  }

  it('stays constant when every tenant is throttled and woken through the heap', () => {
    const few = visitsPerDispatchAllThrottled(10);
    const many = visitsPerDispatchAllThrottled(10_000);
    // Per dispatch: one wake-up, one visit that dispatches, one that parks.
    expect(few).toBeLessThanOrEqual(3);
    expect(many).toBe(few); // measured: 2.8 for both
  });
});
