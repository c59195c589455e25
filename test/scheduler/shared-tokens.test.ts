import { describe, expect, it } from 'vitest';
import {
  FairScheduler,
  TenantLimits,
  tokensWanted,
  type TokenRequest,
} from '../../src/scheduler/index.js';
import { HOLD_MS } from '../../src/scheduler/shared-tokens.js';
import { FakeClock } from './helpers.js';

/** Limits whose shared-token requests are collected for the test to answer. */
function setup(): { clock: FakeClock; limits: TenantLimits; asked: TokenRequest[] } {
  const clock = new FakeClock();
  const asked: TokenRequest[] = [];
  const limits = new TenantLimits(clock.read, {
    shareTokens: (request) => asked.push(request),
    shareSlots: () => {},
  });
  return { clock, limits, asked };
}

/** Dispatches of tenant×queue allowed in a row right now. */
function drain(limits: TenantLimits, tenant: string, queue: string, max = 1000): number {
  let count = 0;
  while (count < max && limits.blockedUntil(tenant, queue) === 0) {
    limits.onDispatch(tenant, queue);
    count += 1;
  }
  return count;
}

describe('shared rate-limit tokens', () => {
  it('sizes a request as a tenth of a second of the rate, within the bucket and the jobs waiting', () => {
    expect(tokensWanted(50, 50, 1000)).toBe(5);
    expect(tokensWanted(50, 3, 1000)).toBe(3); // no more than the bucket holds
    expect(tokensWanted(50, 50, 2)).toBe(2); // no more than waits for them
    expect(tokensWanted(0.5, 1, 1000)).toBe(1); // at least one
    expect(tokensWanted(10_000, 10_000, 1e9)).toBe(1000);
  });

  it('holds a rate-limited tenant until shared tokens are granted, then spends only those', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { rate: 100, burst: 100 });
    const changes: string[] = [];
    limits.onChange((tenant) => changes.push(tenant));

    expect(limits.blockedUntil('t', 'q', 40)).toBeGreaterThan(0); // the local bucket is full
    expect(asked).toEqual([{ tenant: 't', queue: undefined, rate: 100, size: 100, wanted: 10 }]);
    expect(limits.blockedUntil('t', 'q', 40)).toBeGreaterThan(0);
    expect(asked).toHaveLength(1); // one request out at a time

    limits.tokensAnswered(asked[0]!, 3, 0);
    expect(changes).toEqual(['t']); // the answer wakes the tenant
    expect(drain(limits, 't', 'q')).toBe(3);
    expect(asked).toHaveLength(2); // spent: asks for more
  });

  it('waits as long as Redis says when nothing was granted, then asks again', () => {
    const { clock, limits, asked } = setup();
    limits.setTenant('t', { rate: 10 });
    limits.blockedUntil('t', 'q');
    limits.tokensAnswered(asked[0]!, 0, 80);
    expect(limits.blockedUntil('t', 'q')).toBe(80);
    clock.now = 79;
    expect(limits.blockedUntil('t', 'q')).toBe(80);
    expect(asked).toHaveLength(1);
    clock.now = 80;
    limits.blockedUntil('t', 'q');
    expect(asked).toHaveLength(2);
  });

  it('lets granted tokens lapse, so an idle broker cannot save them for a later burst', () => {
    const { clock, limits, asked } = setup();
    limits.setTenant('t', { rate: 100 });
    limits.blockedUntil('t', 'q');
    limits.tokensAnswered(asked[0]!, 5, 0);
    limits.onDispatch('t', 'q');
    clock.now = HOLD_MS;
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(HOLD_MS);
    expect(asked).toHaveLength(2);
  });

  it('asks the bucket of a queue override apart from the tenant-wide one', () => {
    const { limits, asked } = setup();
    limits.setQueueOverride('t', 'slow', { rate: 2, burst: 4 });
    expect(drain(limits, 't', 'fast')).toBe(1000); // no tenant-wide rate: nothing to ask
    expect(asked).toHaveLength(0);
    expect(limits.blockedUntil('t', 'slow', 10)).toBeGreaterThan(0);
    expect(asked).toEqual([{ tenant: 't', queue: 'slow', rate: 2, size: 4, wanted: 1 }]);
    limits.tokensAnswered(asked[0]!, 1, 0);
    expect(drain(limits, 't', 'slow')).toBe(1);
  });

  it('needs the local token as well: a grant does not lift the pace of this broker', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { rate: 10, burst: 2 });
    limits.blockedUntil('t', 'q');
    limits.tokensAnswered(asked[0]!, 2, 0);
    expect(drain(limits, 't', 'q')).toBe(2);
    limits.tokensAnswered({ ...asked[0]! }, 5, 0); // more than the local bucket holds
    expect(limits.blockedUntil('t', 'q')).toBe(100); // the local bucket's next token
  });

  it('forgets the allowance when the rate is removed, and ignores a late answer', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { rate: 1 });
    limits.blockedUntil('t', 'q');
    limits.setTenant('t', undefined);
    limits.tokensAnswered(asked[0]!, 1, 0);
    expect(drain(limits, 't', 'q')).toBe(1000);
  });

  it('parks the tenant as throttled while it waits, and serves others meanwhile', () => {
    const { clock, limits, asked } = setup();
    const scheduler = new FairScheduler({ queue: 'q', limits, clock: clock.read });
    limits.setTenant('limited', { rate: 50 });
    scheduler.setAvailable('limited', 100);
    scheduler.setAvailable('free', 100);
    const served = Array.from({ length: 4 }, () => scheduler.next());
    expect(served).toEqual(['free', 'free', 'free', 'free']);
    expect(scheduler.stateOf('limited')).toBe('THROTTLED');
    expect(asked[0]!.wanted).toBe(5);
    limits.tokensAnswered(asked[0]!, 5, 0);
    expect(scheduler.stateOf('limited')).toBe('READY');
    const next = Array.from({ length: 12 }, () => scheduler.next());
    expect(next.filter((t) => t === 'limited')).toHaveLength(5);
  });
});
