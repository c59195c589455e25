import { describe, expect, it } from 'vitest';
import { FairScheduler, TenantLimits } from '../../src/scheduler/index.js';
import { setup, take, tally } from './helpers.js';

describe('FairScheduler with token buckets', () => {
  it('dispatches exactly at the rate over 10 simulated minutes, sleeping until nextWakeAt', () => {
    const { clock, limits, scheduler } = setup();
    limits.setTenant('a', { rate: 50, burst: 10 });
    scheduler.setAvailable('a', 1_000_000);
    const end = 10 * 60_000;
    let dispatched = 0;
    let sleeps = 0;
    while (clock.now < end) {
      if (scheduler.next() === 'a') {
        dispatched++;
        continue;
      }
      const wakeAt = scheduler.nextWakeAt();
      if (wakeAt === undefined || wakeAt <= clock.now) throw new Error(`bad wake time ${wakeAt}`);
      clock.now = wakeAt; // one timer, no polling
      sleeps++;
    }
    // 10 at once, then one every 20 ms in [20, 599_980]: 30,000 ± burst, exactly 30,009.
    expect(Math.abs(dispatched - 30_000)).toBeLessThanOrEqual(10);
    expect(dispatched).toBe(10 + 30_000 - 1);
    expect(sleeps).toBe(30_000);
  });

  it('stays exact over a simulated hour at a rate whose period is not a whole ms', () => {
    const { clock, limits, scheduler } = setup();
    limits.setTenant('a', { rate: 3, burst: 2 });
    scheduler.setAvailable('a', 1_000_000);
    let dispatched = 0;
    while (clock.now <= 3_600_000) {
      if (scheduler.next() !== undefined) dispatched++;
      else clock.now = scheduler.nextWakeAt() ?? Infinity;
    }
    expect(dispatched).toBe(2 + 3 * 3600);
  });

  it('reports exactly when the next token is due, and is dispatchable at that time, not before', () => {
    const { clock, limits, scheduler } = setup();
    limits.setTenant('a', { rate: 3, burst: 2 });
    limits.setTenant('b', { rate: 2, burst: 1 });
    scheduler.setAvailable('a', 100);
    expect(scheduler.nextWakeAt()).toBeUndefined();
    expect(take(scheduler, 3)).toEqual(['a', 'a', undefined]);
    expect(scheduler.nextWakeAt()).toBe(1000 / 3);
    scheduler.setAvailable('b', 100);
    expect(take(scheduler, 2)).toEqual(['b', undefined]);
    expect(scheduler.nextWakeAt()).toBe(1000 / 3); // min of a's 333.3… and b's 500
    clock.now = 1000 / 3 - 1e-9;
    expect(scheduler.next()).toBeUndefined();
    clock.now = 1000 / 3;
    expect(take(scheduler, 2)).toEqual(['a', undefined]);
    expect(scheduler.nextWakeAt()).toBe(500);
    clock.now = 500;
    expect(take(scheduler, 2)).toEqual(['b', undefined]);
    expect(scheduler.nextWakeAt()).toBe(2000 / 3);
  });

  it('has no wake time for tenants without jobs or only waiting for a release', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { rate: 1 });
    limits.setTenant('b', { maxInFlight: 1 });
    scheduler.setAvailable('a', 5);
    scheduler.setAvailable('b', 5);
    expect(tally(take(scheduler, 3))).toEqual({ a: 1, b: 1, '(none)': 1 });
    expect(scheduler.nextWakeAt()).toBe(1000);
    scheduler.setAvailable('a', 0);
    expect(scheduler.nextWakeAt()).toBeUndefined();
    expect(scheduler.stateOf('b')).toBe('SATURATED');
  });

  it('rechecks a woken tenant against the bucket it shares with other queues', () => {
    const { clock, limits } = setup();
    const a = new FairScheduler({ queue: 'a', limits, clock: clock.read });
    const b = new FairScheduler({ queue: 'b', limits, clock: clock.read });
    limits.setTenant('t', { rate: 1, burst: 1 });
    a.setAvailable('t', 10);
    b.setAvailable('t', 10);
    expect(take(a, 2)).toEqual(['t', undefined]);
    expect(b.next()).toBeUndefined();
    expect(a.nextWakeAt()).toBe(1000);
    clock.now = 1000;
    expect(b.next()).toBe('t'); // queue b got the token first
    expect(a.next()).toBeUndefined();
    expect(a.nextWakeAt()).toBe(2000);
  });

  it('is work-conserving: a throttled tenant holds no capacity while it waits', () => {
    const { clock, limits, scheduler } = setup();
    limits.setTenant('slow', { rate: 1, burst: 1 });
    for (const tenant of ['slow', 'b', 'c']) scheduler.setAvailable(tenant, 1000);
    const first = take(scheduler, 100);
    expect(first).not.toContain(undefined);
    expect(tally(first).slow).toBe(1);
    expect(scheduler.stateOf('slow')).toBe('THROTTLED');
    expect(scheduler.nextWakeAt()).toBe(1000);
    clock.now = 999;
    expect(take(scheduler, 10)).not.toContain('slow');
    clock.now = 1000;
    expect(take(scheduler, 3)).toContain('slow'); // back within one round
  });

  it('applies settings changed live to the next dispatch', () => {
    const { limits, scheduler } = setup();
    limits.setTenant('a', { rate: 1, burst: 1 });
    scheduler.setAvailable('a', 100);
    expect(take(scheduler, 2)).toEqual(['a', undefined]);
    limits.setTenant('a', { rate: 0, maxInFlight: 2 }); // unlimited rate, but a cap
    expect(take(scheduler, 2)).toEqual(['a', undefined]); // 2 in flight now
    limits.setTenant('a', { maxInFlight: 3 });
    expect(take(scheduler, 2)).toEqual(['a', undefined]);
    limits.setTenant('a', undefined);
    expect(take(scheduler, 3)).toEqual(['a', 'a', 'a']);
  });

  it('applies a weight changed live from the next visit', () => {
    const { limits, scheduler } = setup();
    scheduler.setAvailable('a', 1000);
    scheduler.setAvailable('b', 1000);
    expect(tally(take(scheduler, 40))).toEqual({ a: 20, b: 20 });
    limits.setTenant('a', { weight: 3 });
    expect(tally(take(scheduler, 40))).toEqual({ a: 30, b: 10 });
    limits.setQueueOverride('a', 'q', { weight: 1 }); // the override wins on this queue
    expect(tally(take(scheduler, 40))).toEqual({ a: 20, b: 20 });
  });
});

describe('held-back notifications', () => {
  it('reports each time a tenant with work is held back, and why', () => {
    let now = 0;
    const clock = () => now;
    const limits = new TenantLimits(clock);
    limits.setTenant('slow', { rate: 1, burst: 1 });
    limits.setTenant('capped', { maxInFlight: 1 });
    const events: string[] = [];
    const scheduler = new FairScheduler({
      queue: 'q',
      limits,
      clock,
      onHeldBack: (tenant, state) => events.push(`${tenant}:${state}`),
    });
    scheduler.setAvailable('slow', 5);
    scheduler.setAvailable('capped', 5);
    const served: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) served.push(scheduler.next());
    expect(served).toEqual(['slow', 'capped', undefined, undefined]);
    expect(events.sort()).toEqual(['capped:SATURATED', 'slow:THROTTLED']);
    now = 1000;
    expect(scheduler.next()).toBe('slow');
    scheduler.dispose();
  });
});
