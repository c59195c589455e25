import { FairScheduler, TenantLimits, type Clock } from '../../src/scheduler/index.js';

export { prng } from '../helpers/prng.js';

/** A clock that only moves when the test moves it. */
export class FakeClock {
  now = 0;
  readonly read: Clock = () => this.now;

  advance(ms: number): void {
    this.now += ms;
  }
}

/** One queue's scheduler with its own limits registry and fake clock. */
export function setup(quantum?: number): {
  clock: FakeClock;
  limits: TenantLimits;
  scheduler: FairScheduler;
} {
  const clock = new FakeClock();
  const limits = new TenantLimits(clock.read);
  const scheduler = new FairScheduler({ queue: 'q', limits, clock: clock.read, quantum });
  return { clock, limits, scheduler };
}

/** Jain's fairness index of xs: 1 when all equal, 1/n when one takes everything. */
export function jain(xs: readonly number[]): number {
  const sum = xs.reduce((a, x) => a + x, 0);
  const squares = xs.reduce((a, x) => a + x * x, 0);
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares);
}

/** Calls next() `count` times and returns the tenants chosen (undefined included). */
export function take(scheduler: FairScheduler, count: number): (string | undefined)[] {
  return Array.from({ length: count }, () => scheduler.next());
}

export function tally(picks: readonly (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pick of picks) {
    const key = pick ?? '(none)';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}
