import { describe, expect, it } from 'vitest';
import {
  HOLDING_TTL_MS,
  RENEW_MS,
  TenantLimits,
  USABLE_MS,
  holdingTtls,
  sweepIntervalMs,
  type SlotRequest,
} from '../../src/scheduler/index.js';
import { FakeClock } from './helpers.js';

/** Limits whose shared-slot requests are collected for the test to answer. */
function setup(): { clock: FakeClock; limits: TenantLimits; asked: SlotRequest[] } {
  const clock = new FakeClock();
  const asked: SlotRequest[] = [];
  const limits = new TenantLimits(clock.read, {
    shareTokens: () => {},
    shareSlots: (request) => asked.push(request),
  });
  return { clock, limits, asked };
}

function dispatchAll(limits: TenantLimits, tenant: string, queue: string): number {
  let count = 0;
  while (count < 100 && limits.blockedUntil(tenant, queue, 10) === 0) {
    limits.onDispatch(tenant, queue);
    count += 1;
  }
  return count;
}

describe('shared in-flight slots', () => {
  it('holds a capped tenant until slots are held, then dispatches only that many', () => {
    const { clock, limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 5 });
    const changes: string[] = [];
    limits.onChange((tenant) => changes.push(tenant));
    expect(limits.blockedUntil('t', 'q', 3)).toBeGreaterThan(0);
    expect(asked).toEqual([{ tenant: 't', queue: undefined, cap: 5, wanted: 3, keep: 0 }]);
    limits.blockedUntil('t', 'q', 3);
    expect(asked).toHaveLength(1); // one request out at a time

    limits.slotsAnswered(asked[0]!, 2, false); // another broker holds the rest
    expect(changes).toEqual(['t']);
    expect(dispatchAll(limits, 't', 'q')).toBe(2);
    // Redis hears of the leases (see the test of that below) before more is asked.
    limits.slotsAnswered(asked[1]!, 2, false);
    limits.slotsAnswered(asked[2]!, 2, false);
    expect(asked).toHaveLength(3);
    clock.now = limits.blockedUntil('t', 'q', 3); // all it holds is in use: it asks again a little later
    limits.blockedUntil('t', 'q', 3);
    expect(asked[3]).toEqual({ tenant: 't', queue: undefined, cap: 5, wanted: 5, keep: 2 });
  });

  it('asks again a little later when refused', () => {
    const { clock, limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 2 });
    limits.blockedUntil('t', 'q');
    limits.slotsAnswered(asked[0]!, 0, false);
    const until = limits.blockedUntil('t', 'q');
    expect(until).toBe(100);
    expect(asked).toHaveLength(1);
    clock.now = until;
    limits.blockedUntil('t', 'q');
    expect(asked).toHaveLength(2);
  });

  it('asks at once for a job just after giving its holding up, but not after giving slots to a broker that waits', () => {
    const { clock, limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 2 });
    limits.blockedUntil('t', 'q');
    limits.slotsAnswered(asked[0]!, 2, false);
    limits.onDispatch('t', 'q');
    limits.slotsAnswered(asked[1]!, 2, false);
    limits.onRelease('t', 'q');
    // Idle: the renewal gives the holding up, and Redis answers 0 usable, as asked.
    const [release] = [...limits.slotRenewals()];
    limits.slotsAnswered(release!, 0, false);
    clock.now = 10;
    // The next job asks at once, not after a retry delay meant for refusals.
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
    expect(asked).toHaveLength(3);
    expect(asked[2]).toEqual({ tenant: 't', queue: undefined, cap: 2, wanted: 1, keep: 0 });
    limits.slotsAnswered(asked[2]!, 1, false);
    expect(limits.blockedUntil('t', 'q')).toBe(0);

    // Given back to a broker that waits, the slot is the other's to take
    // first: this one asks again only after the retry delay.
    limits.onDispatch('t', 'q');
    limits.slotsAnswered(asked[3]!, 1, true); // the lease told; others wait
    limits.onRelease('t', 'q'); // given back at once
    expect(asked[4]).toEqual({ tenant: 't', queue: undefined, cap: 2, wanted: 0, keep: 0 });
    limits.slotsAnswered(asked[4]!, 0, true); // at 10
    clock.now = 20;
    expect(limits.blockedUntil('t', 'q')).toBe(110);
    expect(asked).toHaveLength(5);
    clock.now = 110;
    limits.blockedUntil('t', 'q');
    expect(asked).toHaveLength(6);
  });

  it('keeps freed slots for itself, unless other brokers wait for them', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 3 });
    limits.blockedUntil('t', 'q');
    limits.slotsAnswered(asked[0]!, 3, false);
    expect(dispatchAll(limits, 't', 'q')).toBe(3);
    limits.slotsAnswered(asked[1]!, 3, false); // Redis heard of the leases
    limits.slotsAnswered(asked[2]!, 3, false);
    limits.onRelease('t', 'q');
    expect(asked).toHaveLength(3); // nobody waits: the slot stays held
    expect(dispatchAll(limits, 't', 'q')).toBe(1);

    // A renewal learns that another broker waits: freed slots go back one by one.
    const [renewal] = [...limits.slotRenewals()];
    expect(renewal).toEqual({ tenant: 't', queue: undefined, cap: 3, wanted: 3, keep: 3 });
    limits.slotsAnswered(renewal!, 3, true);
    limits.onRelease('t', 'q');
    expect(asked.at(-1)).toEqual({ tenant: 't', queue: undefined, cap: 3, wanted: 2, keep: 2 });
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0); // the slot given back is not used
  });

  it('renews a holding each round, shrinking it to the leases while others wait', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 4 });
    expect([...limits.slotRenewals()]).toEqual([]); // nothing held yet
    limits.blockedUntil('t', 'q');
    expect([...limits.slotRenewals()]).toEqual([]); // a request is out
    limits.slotsAnswered(asked[0]!, 4, false);
    limits.onDispatch('t', 'q');
    limits.slotsAnswered(asked[1]!, 4, false); // Redis heard of the lease
    const keep = [...limits.slotRenewals()];
    expect(keep).toEqual([{ tenant: 't', queue: undefined, cap: 4, wanted: 4, keep: 1 }]);
    limits.slotsAnswered(keep[0]!, 4, true);
    expect([...limits.slotRenewals()]).toEqual([
      { tenant: 't', queue: undefined, cap: 4, wanted: 1, keep: 1 },
    ]);
    // Shrunk at once: the three slots it gives back are not used meanwhile.
    expect([...limits.slotHoldings()]).toEqual([
      { tenant: 't', queue: undefined, cap: 4, wanted: 1, keep: 1 },
    ]);
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
  });

  it('gives a holding up when no lease is in flight, and stops renewing it', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 2 });
    limits.blockedUntil('t', 'q');
    limits.slotsAnswered(asked[0]!, 2, false);
    limits.onDispatch('t', 'q');
    limits.slotsAnswered(asked[1]!, 2, false); // Redis heard of the lease
    limits.onRelease('t', 'q');
    const [release] = [...limits.slotRenewals()];
    expect(release).toEqual({ tenant: 't', queue: undefined, cap: 2, wanted: 0, keep: 0 });
    limits.slotsAnswered(release!, 0, false);
    expect([...limits.slotRenewals()]).toEqual([]);
    expect([...limits.slotHoldings()]).toEqual([]);
  });

  it('tells Redis at once of leases adopted from another broker, again when a request was out', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 4 });
    limits.onDispatch('t', 'q'); // adopted, holding nothing yet: Redis learns of the lease at once
    expect(asked).toEqual([{ tenant: 't', queue: undefined, cap: 4, wanted: 1, keep: 1 }]);
    limits.onDispatch('t', 'q'); // adopted too: its answer may predate this one
    expect(asked).toHaveLength(1);
    limits.slotsAnswered(asked[0]!, 1, false);
    expect(asked[1]).toEqual({ tenant: 't', queue: undefined, cap: 4, wanted: 2, keep: 2 });
    limits.slotsAnswered(asked[1]!, 2, false);
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0); // both slots are the adopted leases'
    // Those answers refused nothing: a job waiting here asks for one more at once.
    expect(asked[2]).toEqual({ tenant: 't', queue: undefined, cap: 4, wanted: 3, keep: 2 });
    limits.slotsAnswered(asked[2]!, 2, false); // refused: renewed as held
    expect([...limits.slotRenewals()]).toEqual([
      { tenant: 't', queue: undefined, cap: 4, wanted: 2, keep: 2 },
    ]);
    expect(limits.sharedCaps('t', 'q')).toEqual([undefined]);
  });

  it('tells Redis at once of more leases than it last heard of, so their slots outlive a crash', () => {
    const { clock, limits, asked } = setup();
    const told = (keep: number) => ({ tenant: 't', queue: undefined, cap: 4, wanted: 4, keep });
    limits.setTenant('t', { maxInFlight: 4 });
    limits.blockedUntil('t', 'q', 4);
    limits.slotsAnswered(asked[0]!, 4, false);
    limits.onDispatch('t', 'q');
    expect(asked[1]).toEqual(told(1));
    limits.onDispatch('t', 'q');
    limits.onDispatch('t', 'q');
    expect(asked).toHaveLength(2); // one request out at a time
    limits.slotsAnswered(asked[1]!, 4, false);
    expect(asked[2]).toEqual(told(3));
    limits.slotsAnswered(asked[2]!, 4, false);

    // Leases ending and starting again within what Redis heard of cost no call.
    limits.onRelease('t', 'q');
    limits.onRelease('t', 'q');
    limits.onDispatch('t', 'q');
    limits.onDispatch('t', 'q');
    expect(asked).toHaveLength(3);
    limits.onDispatch('t', 'q');
    expect(asked[3]).toEqual(told(4));
    limits.slotsAnswered(asked[3]!, 4, false);

    // A lease re-attached elsewhere took its slot along: Redis counts one fewer
    // here, and is asked at once before that slot is used again.
    limits.onLeaseLost('t', 'q');
    expect(asked[4]).toEqual({ ...told(3), wanted: 3 });
    limits.slotsAnswered(asked[4]!, 3, false);
    clock.now = limits.blockedUntil('t', 'q'); // all it may use is in use: ask a little later
    limits.blockedUntil('t', 'q');
    expect(asked[5]).toEqual(told(3));
    limits.slotsAnswered(asked[5]!, 4, false);
    limits.onDispatch('t', 'q');
    expect(asked[6]).toEqual(told(4));
  });

  // Redis lapses spare slots HOLDING_TTL_MS after the last renewal it ran and
  // gives them to other brokers: a broker held up past that (its event loop
  // blocked, its requests behind a slow Redis) dispatched into them on waking.
  it('uses no spare slot longer than USABLE_MS after the request that got it, before asking again', () => {
    const { clock, limits, asked } = setup();
    const request = (wanted: number, keep: number) => ({
      tenant: 't',
      queue: undefined,
      cap: 4,
      wanted,
      keep,
    });
    limits.setTenant('t', { maxInFlight: 4 });
    limits.blockedUntil('t', 'q', 4);
    clock.now = 50; // answered later than asked: it counts from the asking
    limits.slotsAnswered(asked[0]!, 4, false);
    limits.onDispatch('t', 'q');
    limits.slotsAnswered(asked[1]!, 4, false); // asked at 50: usable until 50 + USABLE_MS
    expect(asked).toHaveLength(2);

    clock.now = 50 + USABLE_MS - 1;
    expect(limits.blockedUntil('t', 'q', 4)).toBe(0);
    clock.now = 50 + USABLE_MS;
    expect(limits.blockedUntil('t', 'q', 4)).toBe(clock.now + 1000);
    expect(asked[2]).toEqual(request(4, 1));
    limits.blockedUntil('t', 'q', 4);
    expect(asked).toHaveLength(3); // one request out at a time
    limits.slotsAnswered(asked[2]!, 2, false); // meanwhile another broker took two
    expect(dispatchAll(limits, 't', 'q')).toBe(1);

    // A renewal each RENEW_MS keeps the spare slots usable.
    limits.slotsAnswered(asked[3]!, 2, false); // Redis heard of the lease
    limits.onRelease('t', 'q');
    for (let round = 0; round < 5; round++) {
      clock.advance(RENEW_MS);
      const [renewal] = [...limits.slotRenewals()];
      limits.slotsAnswered(renewal!, 2, false);
      expect(limits.blockedUntil('t', 'q')).toBe(0);
    }
  });

  it('uses no slot of a lease that ended as stale before Redis has been asked', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 2 });
    limits.blockedUntil('t', 'q', 2);
    limits.slotsAnswered(asked[0]!, 2, false);
    expect(dispatchAll(limits, 't', 'q')).toBe(2);
    limits.onLeaseLost('t', 'q'); // re-attached to another broker, which runs it in that slot
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
    expect(asked.at(-1)).toEqual({ tenant: 't', queue: undefined, cap: 2, wanted: 2, keep: 1 });

    // Lost while a request is out: its answer may still count the slot as this broker's.
    limits.onLeaseLost('t', 'q');
    limits.slotsAnswered(asked.at(-1)!, 2, false);
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
  });

  it('uses no slot held under a lowered cap before Redis answers with the new one', () => {
    const { limits, asked } = setup();
    const request = (cap: number, wanted: number, keep: number) => ({
      tenant: 't',
      queue: undefined,
      cap,
      wanted,
      keep,
    });
    limits.setTenant('t', { maxInFlight: 20 });
    limits.blockedUntil('t', 'q', 10);
    limits.slotsAnswered(asked[0]!, 10, false);
    limits.onDispatch('t', 'q');
    limits.onDispatch('t', 'q');
    limits.slotsAnswered(asked[1]!, 10, false); // Redis heard of the first lease
    limits.slotsAnswered(asked[2]!, 10, false); // and of the second
    expect(asked).toHaveLength(3);

    limits.setTenant('t', { maxInFlight: 4 }); // 2 in flight, 10 usable under the old cap
    expect(asked[3]).toEqual(request(4, 4, 2)); // asked at once, with the new cap
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0); // below 4 here, but not yet allowed

    // The other broker holds 3: one slot is usable here, the leases' 2 are held.
    limits.slotsAnswered(asked[3]!, 1, true);
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
    // A slot freed above those usable goes back at once, and is not used again.
    limits.onRelease('t', 'q');
    expect(asked[4]).toEqual(request(4, 1, 1));
    limits.slotsAnswered(asked[4]!, 1, false);
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
    // A slot freed within those usable is used again.
    limits.onRelease('t', 'q');
    expect(asked).toHaveLength(5);
    expect(dispatchAll(limits, 't', 'q')).toBe(1);
  });

  it('asks again with a cap lowered while a request was out, cutting its answer to the leases', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 20 });
    limits.blockedUntil('t', 'q', 10);
    limits.setTenant('t', { maxInFlight: 4 });
    expect(asked).toHaveLength(1); // one request out at a time
    limits.slotsAnswered(asked[0]!, 10, false); // reckoned with the old cap
    expect(limits.blockedUntil('t', 'q')).toBeGreaterThan(0);
    expect(asked[1]).toEqual({ tenant: 't', queue: undefined, cap: 4, wanted: 4, keep: 0 });
    limits.slotsAnswered(asked[1]!, 4, false);
    expect(dispatchAll(limits, 't', 'q')).toBe(4);
  });

  it('asks at once for more when the cap is raised, and nothing when it stays', () => {
    const { limits, asked } = setup();
    limits.setTenant('t', { maxInFlight: 2 });
    limits.blockedUntil('t', 'q', 5);
    limits.slotsAnswered(asked[0]!, 2, false);
    expect(dispatchAll(limits, 't', 'q')).toBe(2);
    limits.slotsAnswered(asked[1]!, 2, false); // Redis heard of the leases
    limits.slotsAnswered(asked[2]!, 2, false);
    limits.setTenant('t', { maxInFlight: 2, weight: 3 });
    expect(asked).toHaveLength(3);

    // All it may use is in use, which alone would wait a little before asking again.
    limits.setTenant('t', { maxInFlight: 6 });
    expect(limits.blockedUntil('t', 'q', 5)).toBeGreaterThan(0);
    expect(asked[3]).toEqual({ tenant: 't', queue: undefined, cap: 6, wanted: 6, keep: 2 });
    limits.slotsAnswered(asked[3]!, 6, false);
    expect(dispatchAll(limits, 't', 'q')).toBe(4);
  });

  it("holds a queue override's cap apart, and drops the holding with the cap", () => {
    const { limits, asked } = setup();
    limits.setQueueOverride('t', 'narrow', { maxInFlight: 2 });
    expect(dispatchAll(limits, 't', 'wide')).toBe(100); // no cap there: nothing to ask
    expect(asked).toHaveLength(0);
    limits.blockedUntil('t', 'narrow', 5);
    expect(asked).toEqual([{ tenant: 't', queue: 'narrow', cap: 2, wanted: 2, keep: 0 }]);
    limits.slotsAnswered(asked[0]!, 2, false);
    expect(dispatchAll(limits, 't', 'narrow')).toBe(2);
    limits.setQueueOverride('t', 'narrow', undefined);
    limits.onRelease('t', 'narrow');
    limits.onRelease('t', 'narrow');
    expect([...limits.slotHoldings()]).toEqual([]);
    expect(dispatchAll(limits, 't', 'narrow')).toBe(100);
  });
});

describe('holdingTtls', () => {
  it("keeps a dead broker's leased slots past the sweep that reclaims their leases", () => {
    for (const leaseTtlMs of [1500, 9000, 30_000]) {
      const { holdingMs, leasesMs } = holdingTtls(leaseTtlMs);
      expect(holdingMs).toBe(HOLDING_TTL_MS);
      // Its entries, renewed last up to RENEW_MS after its holdings, are taken
      // once idle for a lease TTL, by the next sweep: it frees their slots.
      expect(leasesMs).toBeGreaterThan(RENEW_MS + leaseTtlMs + sweepIntervalMs(leaseTtlMs));
    }
  });
});
