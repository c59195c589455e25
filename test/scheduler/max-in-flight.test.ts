import { describe, expect, it } from 'vitest';
import { FairScheduler, TenantLimits } from '../../src/scheduler/index.js';
import { FakeClock, prng } from './helpers.js';

interface Lease {
  tenant: string;
  queue: string;
}

describe('maxInFlight under random interleavings', () => {
  it.each([1, 2, 3, 42, 2024])('is never exceeded (seed %d)', (seed) => {
    const random = prng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const clock = new FakeClock();
    const limits = new TenantLimits(clock.read);
    const queues = ['a', 'b', 'c'];
    const schedulers = queues.map(
      (queue) => new FairScheduler({ queue, limits, clock: clock.read }),
    );
    const tenants = ['t0', 't1', 't2', 't3', 't4', 't5'];

    // What the test believes the caps are, mirrored into the limits.
    const cap = new Map<string, number>();
    const queueCap = new Map<string, number>(); // key `${tenant}/${queue}`
    const configure = (tenant: string): void => {
      const maxInFlight = Math.floor(random() * 4); // 0 = unlimited
      const rate = random() < 0.3 ? 1 + Math.floor(random() * 20) : 0;
      limits.setTenant(tenant, { maxInFlight, rate, weight: 0.5 + random() * 3 });
      cap.set(tenant, maxInFlight);
    };
    for (const tenant of tenants) configure(tenant);
    for (const tenant of tenants.slice(0, 3)) {
      limits.setQueueOverride(tenant, 'a', { maxInFlight: 1 });
      queueCap.set(`${tenant}/a`, 1);
    }

    const held: Lease[] = [];
    const counts = new Map<string, number>(); // keys `${tenant}` and `${tenant}/${queue}`
    const count = (tenant: string, queue?: string): number =>
      counts.get(queue === undefined ? tenant : `${tenant}/${queue}`) ?? 0;
    const recount = (lease: Lease, delta: number): void => {
      for (const key of [lease.tenant, `${lease.tenant}/${lease.queue}`]) {
        counts.set(key, (counts.get(key) ?? 0) + delta);
      }
    };
    const violations: string[] = [];
    let dispatches = 0;
    let refusedAtCap = 0;

    for (let step = 0; step < 20_000; step++) {
      const roll = random();
      if (roll < 0.45) {
        const index = Math.floor(random() * queues.length);
        const queue = queues[index] as string;
        const tenant = (schedulers[index] as FairScheduler).next();
        if (tenant === undefined) continue;
        const tenantCap = cap.get(tenant) ?? 0;
        const perQueueCap = queueCap.get(`${tenant}/${queue}`) ?? 0;
        if (tenantCap > 0 && count(tenant) >= tenantCap) {
          violations.push(
            `step ${step}: ${tenant} dispatched with ${count(tenant)}/${tenantCap} in flight`,
          );
        }
        if (perQueueCap > 0 && count(tenant, queue) >= perQueueCap) {
          violations.push(`step ${step}: ${tenant}/${queue} dispatched at its cap ${perQueueCap}`);
        }
        held.push({ tenant, queue });
        recount({ tenant, queue }, +1);
        dispatches++;
      } else if (roll < 0.8) {
        if (held.length === 0) continue;
        const index = Math.floor(random() * held.length); // any lease, not the oldest
        const lease = held[index];
        if (lease === undefined) continue;
        held[index] = held[held.length - 1] as Lease;
        held.pop();
        recount(lease, -1);
        limits.onRelease(lease.tenant, lease.queue);
      } else if (roll < 0.85) {
        // A late or duplicate release where nothing is in flight: must change nothing.
        const tenant = pick(tenants);
        const queue = pick(queues);
        if (count(tenant, queue) === 0) limits.onRelease(tenant, queue);
      } else if (roll < 0.95) {
        const index = Math.floor(random() * queues.length);
        (schedulers[index] as FairScheduler).setAvailable(pick(tenants), Math.floor(random() * 6));
      } else if (roll < 0.97) {
        configure(pick(tenants));
      } else {
        clock.advance(random() * 200);
      }
      for (const tenant of tenants) {
        if (limits.inFlight(tenant) !== count(tenant)) {
          violations.push(
            `step ${step}: ${tenant} counted ${limits.inFlight(tenant)}, holds ${count(tenant)}`,
          );
        }
        const tenantCap = cap.get(tenant) ?? 0;
        if (tenantCap > 0 && count(tenant) >= tenantCap) refusedAtCap++;
      }
    }
    expect(violations.slice(0, 5)).toEqual([]);
    expect(dispatches).toBeGreaterThan(1000);
    expect(refusedAtCap).toBeGreaterThan(1000); // the caps were actually reached

    // Nothing is stuck: with every lease released, work flows again.
    for (const lease of held.splice(0)) limits.onRelease(lease.tenant, lease.queue);
    for (const tenant of tenants) limits.setTenant(tenant, undefined);
    for (const scheduler of schedulers) {
      for (const tenant of tenants) scheduler.setAvailable(tenant, tenant === 't0' ? 1 : 0);
    }
    expect(schedulers.map((s) => s.next())).toEqual(['t0', 't0', 't0']);
  });
});
