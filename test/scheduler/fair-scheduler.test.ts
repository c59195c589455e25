import { describe, expect, it } from 'vitest';
import { FairScheduler, TenantLimits } from '../../src/scheduler/index.js';
import { FakeClock, setup, take, tally } from './helpers.js';

describe('FairScheduler', () => {
  it('knows tenants with and without buffered jobs, and dispatches only those with jobs', () => {
    const { scheduler } = setup();
    scheduler.setAvailable('a', 2);
    scheduler.setAvailable('b', 0);
    expect(scheduler.size).toBe(2);
    expect(scheduler.stateOf('b')).toBe('IDLE');
    expect(take(scheduler, 4)).toEqual(['a', 'a', undefined, undefined]);
    expect(scheduler.stateOf('a')).toBe('IDLE');
    scheduler.setAvailable('b', 1);
    expect(take(scheduler, 2)).toEqual(['b', undefined]);
    expect(() => scheduler.setAvailable('a', -1)).toThrow(RangeError);
    expect(() => scheduler.setAvailable('a', 1.5)).toThrow(RangeError);
  });

  it('skips a paused tenant, giving its turns to the others, and serves it once resumed', () => {
    const { limits, scheduler } = setup();
    scheduler.setAvailable('a', 10);
    scheduler.setAvailable('b', 10);
    limits.setTenant('a', { paused: true });
    expect(tally(take(scheduler, 6))).toEqual({ b: 6 });
    expect(scheduler.stateOf('a')).toBe('SATURATED');
    limits.setTenant('a', { paused: false });
    expect(tally(take(scheduler, 4))).toEqual({ a: 2, b: 2 });
  });

  it('counts available down per dispatch and takes new counts as absolute', () => {
    const { limits, scheduler } = setup();
    scheduler.setAvailable('a', 3);
    scheduler.setAvailable('a', 1); // the buffer shrank (e.g. jobs cancelled)
    expect(take(scheduler, 2)).toEqual(['a', undefined]);
    expect(limits.inFlight('a', 'q')).toBe(1);
  });

  it('restricts the choice with accept, keeping DRR shares among the accepted tenants', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('c', { weight: 3 });
    for (const tenant of ['a', 'b', 'c']) scheduler.setAvailable(tenant, 1000);
    const onlyB = Array.from({ length: 5 }, () => scheduler.next((t) => t === 'b'));
    expect(onlyB).toEqual(['b', 'b', 'b', 'b', 'b']);
    expect(scheduler.next(() => false)).toBeUndefined();
    const notB = Array.from({ length: 40 }, () => scheduler.next((t) => t !== 'b'));
    expect(tally(notB)).toEqual({ a: 10, c: 30 });
    expect(tally(take(scheduler, 50))).toEqual({ a: 10, b: 10, c: 30 });
  });

  it('gives an accepted tenant with a fractional weight its credit over several laps', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { weight: 0.25 });
    scheduler.setAvailable('a', 10);
    scheduler.setAvailable('b', 10);
    expect(scheduler.next((t) => t === 'a')).toBe('a');
  });

  it('parks a throttled tenant found through accept, and still serves the others', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { rate: 1, burst: 1 });
    scheduler.setAvailable('a', 10);
    scheduler.setAvailable('b', 10);
    const onlyA = (t: string): boolean => t === 'a';
    expect([scheduler.next(onlyA), scheduler.next(onlyA)]).toEqual(['a', undefined]);
    expect(scheduler.nextWakeAt()).toBe(1000);
    expect(take(scheduler, 3)).toEqual(['b', 'b', 'b']);
  });

  it('forgets the deficit of a removed tenant', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { weight: 5 });
    scheduler.setAvailable('a', 100);
    scheduler.setAvailable('b', 100);
    expect(scheduler.next()).toBe('a'); // credited 5, spent 1: 4 left
    scheduler.remove('a');
    expect(scheduler.size).toBe(1);
    expect(scheduler.stateOf('a')).toBeUndefined();
    scheduler.setAvailable('a', 100); // back, as a new tenant behind b
    const picks = take(scheduler, 7);
    // A remembered deficit would give a 4 (or 4 + 5) in a row; a fresh one gets exactly 5.
    expect(picks).toEqual(['b', 'a', 'a', 'a', 'a', 'a', 'b']);
  });

  it('forgets the wake-up of a removed tenant', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { rate: 1 });
    scheduler.setAvailable('a', 10);
    expect(take(scheduler, 2)).toEqual(['a', undefined]);
    expect(scheduler.nextWakeAt()).toBe(1000);
    scheduler.remove('a');
    expect(scheduler.nextWakeAt()).toBeUndefined();
    expect(scheduler.size).toBe(0);
  });

  it('lets a parked tenant keep at most quantum × weight of deficit', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { weight: 0.25 });
    scheduler.setAvailable('a', 100);
    scheduler.setAvailable('b', 100);
    expect(take(scheduler, 3)).toEqual(['b', 'b', 'b']); // a credited 0.25 × 3 = 0.75
    scheduler.setAvailable('a', 0); // parked: 0.75 capped to 0.25
    scheduler.setAvailable('a', 100);
    // Uncapped, a would be served on its next visit (0.75 + 0.25); capped it needs three.
    expect(take(scheduler, 4)).toEqual(['b', 'b', 'b', 'a']);
  });

  it('does not let a tenant burst beyond quantum × weight after un-parking', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { weight: 3 });
    scheduler.setAvailable('a', 1);
    scheduler.setAvailable('b', 100);
    expect(scheduler.next()).toBe('a'); // a's buffer is empty: parked mid-visit
    scheduler.setAvailable('a', 100);
    const picks = take(scheduler, 12);
    let run = 0;
    let longest = 0;
    for (const pick of picks) {
      run = pick === 'a' ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    expect(longest).toBeLessThanOrEqual(3);
    expect(picks.slice(0, 4)).toEqual(['b', 'a', 'a', 'b']); // finishes its visit, no new credit
  });

  it('applies a lowered weight to the visit under way, not after it', () => {
    const { limits, scheduler } = setup(4); // the dispatcher's quantum
    limits.setTenant('a', { weight: 1000 });
    scheduler.setAvailable('a', 10_000);
    scheduler.setAvailable('b', 10_000);
    expect(scheduler.next()).toBe('a'); // a visit of 4,000 dispatches begins
    limits.setTenant('a', { weight: 1 });
    // At weight 1 a visit is 4 dispatches: b is served after at most 4 more of a,
    // not after the 3,999 the old weight credited.
    const picks = take(scheduler, 10);
    expect(picks.indexOf('b')).toBeGreaterThan(-1);
    expect(picks.indexOf('b')).toBeLessThanOrEqual(4);
    expect(tally(picks)).toEqual({ a: 6, b: 4 });
  });

  it('un-parks a tenant at maxInFlight when a lease is released on any queue', () => {
    const clock = new FakeClock();
    const limits = new TenantLimits(clock.read);
    const a = new FairScheduler({ queue: 'a', limits, clock: clock.read });
    const b = new FairScheduler({ queue: 'b', limits, clock: clock.read });
    limits.setTenant('t', { maxInFlight: 1 });
    a.setAvailable('t', 5);
    b.setAvailable('t', 5);
    expect(a.next()).toBe('t');
    expect(b.next()).toBeUndefined();
    expect(b.stateOf('t')).toBe('SATURATED');
    limits.onRelease('t', 'a');
    expect(b.stateOf('t')).toBe('READY');
    expect(b.next()).toBe('t');
    expect(a.next()).toBeUndefined();
    expect(b.next()).toBeUndefined();
    b.dispose();
    limits.onRelease('t', 'b');
    expect(b.stateOf('t')).toBe('SATURATED'); // disposed: no longer listening
    expect(a.next()).toBe('t');
  });

  it('refuses a quantum that is not positive', () => {
    const clock = new FakeClock();
    const limits = new TenantLimits(clock.read);
    expect(() => new FairScheduler({ queue: 'q', limits, clock: clock.read, quantum: 0 })).toThrow(
      RangeError,
    );
  });
});
