import { describe, expect, it } from 'vitest';
import { DEFAULT_TENANT_SETTINGS, TenantLimits } from '../../src/scheduler/index.js';
import { FakeClock } from './helpers.js';

function setup(): { clock: FakeClock; limits: TenantLimits; changes: string[] } {
  const clock = new FakeClock();
  const limits = new TenantLimits(clock.read);
  const changes: string[] = [];
  limits.onChange((tenant) => changes.push(tenant));
  return { clock, limits, changes };
}

describe('TenantLimits', () => {
  it('admits everything with the defaults', () => {
    const { limits } = setup();
    expect(DEFAULT_TENANT_SETTINGS).toEqual({
      weight: 1,
      rate: 0,
      burst: 0,
      maxInFlight: 0,
      paused: false,
    });
    expect(Object.isFrozen(DEFAULT_TENANT_SETTINGS)).toBe(true);
    for (let i = 0; i < 1000; i++) limits.onDispatch('t', 'q');
    expect(limits.blockedUntil('t', 'q')).toBe(0);
    expect(limits.inFlight('t')).toBe(1000);
    expect(limits.weight('t', 'q')).toBe(1);
  });

  it('takes the weight from the override, else the tenant, else the default', () => {
    const { limits } = setup();
    limits.setTenant('t', { weight: 3 });
    limits.setQueueOverride('t', 'special', { weight: 0.5 });
    expect(limits.weight('t', 'special')).toBe(0.5);
    expect(limits.weight('t', 'other')).toBe(3);
    expect(limits.weight('u', 'special')).toBe(1);
    limits.setTenant('t', undefined);
    expect(limits.weight('t', 'other')).toBe(1);
    expect(limits.weight('t', 'special')).toBe(0.5);
  });

  it('blocks on the tenant bucket until the next token is due; burst 0 means max(1, rate)', () => {
    const { clock, limits } = setup();
    limits.setTenant('t', { rate: 4 }); // burst 4
    for (let i = 0; i < 4; i++) {
      expect(limits.blockedUntil('t', 'a')).toBe(0);
      limits.onDispatch('t', i % 2 ? 'a' : 'b'); // one bucket for all queues
    }
    expect(limits.blockedUntil('t', 'a')).toBe(250);
    expect(limits.blockedUntil('t', 'b')).toBe(250);
    clock.now = 250;
    expect(limits.blockedUntil('t', 'a')).toBe(0);
  });

  it('reports the rate of tenant×queue as the slower of the two buckets', () => {
    const { limits } = setup();
    expect(limits.rate('t', 'q')).toBe(Infinity);
    limits.setTenant('t', { rate: 10 });
    limits.setQueueOverride('t', 'slow', { rate: 2 });
    limits.setQueueOverride('t', 'fast', { rate: 50 });
    expect([limits.rate('t', 'q'), limits.rate('t', 'slow'), limits.rate('t', 'fast')]).toEqual([
      10, 2, 10,
    ]);
  });

  it('applies an override bucket on top of the tenant bucket', () => {
    const { limits } = setup();
    limits.setTenant('t', { rate: 10, burst: 1 });
    limits.setQueueOverride('t', 'slow', { rate: 1, burst: 1 });
    limits.onDispatch('t', 'slow');
    expect(limits.blockedUntil('t', 'slow')).toBe(1000); // the later of 100 and 1000
    expect(limits.blockedUntil('t', 'fast')).toBe(100);
  });

  it('blocks at maxInFlight (tenant-wide and per override) until a release', () => {
    const { limits, changes } = setup();
    limits.setTenant('t', { maxInFlight: 3 });
    limits.setQueueOverride('t', 'a', { maxInFlight: 1 });
    changes.length = 0;
    limits.onDispatch('t', 'a');
    expect(limits.blockedUntil('t', 'a')).toBe(Infinity);
    expect(limits.blockedUntil('t', 'b')).toBe(0);
    limits.onDispatch('t', 'b');
    limits.onDispatch('t', 'b');
    expect(limits.blockedUntil('t', 'b')).toBe(Infinity);
    expect(limits.inFlight('t')).toBe(3);
    expect(limits.inFlight('t', 'b')).toBe(2);
    limits.onRelease('t', 'a');
    expect(changes).toEqual(['t']);
    expect(limits.blockedUntil('t', 'a')).toBe(0);
  });

  it('blocks a paused tenant (tenant-wide or per override) until its settings change', () => {
    const { limits, changes } = setup();
    limits.setTenant('t', { paused: true });
    limits.setQueueOverride('u', 'a', { paused: true });
    changes.length = 0;
    expect(limits.blockedUntil('t', 'a')).toBe(Infinity);
    expect(limits.blockedUntil('t', 'b')).toBe(Infinity);
    expect(limits.blockedUntil('u', 'a')).toBe(Infinity);
    expect(limits.blockedUntil('u', 'b')).toBe(0);
    limits.setTenant('t', { paused: false });
    limits.setQueueOverride('u', 'a', undefined);
    expect(changes).toEqual(['t', 'u']);
    expect(limits.blockedUntil('t', 'a')).toBe(0);
    expect(limits.blockedUntil('u', 'a')).toBe(0);
  });

  it('ignores a release where nothing is in flight, so counters never undercount', () => {
    const { limits, changes } = setup();
    limits.setTenant('t', { maxInFlight: 1 });
    changes.length = 0;
    limits.onRelease('t', 'a'); // nothing in flight anywhere
    limits.onDispatch('t', 'b');
    limits.onRelease('t', 'a'); // a late release for another queue must not free b's slot
    expect(limits.inFlight('t')).toBe(1);
    expect(limits.blockedUntil('t', 'b')).toBe(Infinity);
    expect(changes).toEqual([]);
    limits.onRelease('t', 'b');
    limits.onRelease('t', 'b');
    expect(limits.inFlight('t')).toBe(0);
    expect(limits.inFlight('t', 'b')).toBe(0);
  });

  it('applies live settings to the next check, keeping the tokens and the leases held', () => {
    const { limits, changes } = setup();
    limits.setTenant('t', { rate: 1, maxInFlight: 5 });
    limits.onDispatch('t', 'q');
    expect(limits.blockedUntil('t', 'q')).toBe(1000);
    limits.setTenant('t', { rate: 100, maxInFlight: 5 });
    expect(limits.blockedUntil('t', 'q')).toBe(10); // bucket still empty, refills at 100/s now
    limits.setTenant('t', { maxInFlight: 1 });
    expect(limits.blockedUntil('t', 'q')).toBe(Infinity); // the lease in flight survived the change
    limits.setTenant('t', undefined);
    expect(limits.blockedUntil('t', 'q')).toBe(0);
    expect(limits.inFlight('t')).toBe(1);
    expect(changes).toEqual(['t', 't', 't', 't']);
  });

  it('stops notifying after unsubscribe', () => {
    const { limits } = setup();
    const seen: string[] = [];
    const unsubscribe = limits.onChange((tenant) => seen.push(tenant));
    limits.setTenant('a', { weight: 2 });
    unsubscribe();
    limits.setTenant('b', { weight: 2 });
    expect(seen).toEqual(['a']);
  });

  it('refuses invalid settings with a message naming tenant and field', () => {
    const { limits } = setup();
    expect(() => limits.setTenant('t', { weight: 0 })).toThrow(/tenant "t": weight/);
    expect(() => limits.setTenant('t', { rate: -1 })).toThrow(RangeError);
    expect(() => limits.setTenant('t', { burst: 0.5 })).toThrow(/burst/);
    expect(() => limits.setTenant('t', { maxInFlight: 1.5 })).toThrow(/maxInFlight/);
    expect(() => limits.setQueueOverride('t', 'q', { burst: 5 })).toThrow(TypeError);
    expect(() => limits.setTenant('t', { paused: 'yes' as unknown as boolean })).toThrow(
      'tenant "t": paused must be true or false, got yes',
    );
  });
});
