import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DueTimes } from '../../src/broker/due-times.js';

describe('DueTimes', () => {
  let calls: Array<[string, boolean]>;
  let due: DueTimes;

  beforeEach(() => {
    vi.useFakeTimers();
    calls = [];
    // One fake clock for both kinds of time: only their order matters here.
    const clock = () => Date.now();
    due = new DueTimes(clock, clock, (tenant, cameDue) => calls.push([tenant, cameDue]));
  });

  afterEach(() => {
    due.stop();
    vi.useRealTimers();
  });

  it('says a run time passed during a wait came due, and the wait that ends after it did not', () => {
    // A dispatcher that marked its waits took such a run time for the wait's
    // end: the read it made skipped what a job coming due needs.
    due.after('acme', 20);
    due.runAt('acme', Date.now() + 10);
    vi.advanceTimersByTime(10);
    expect(calls).toEqual([['acme', true]]);
    vi.advanceTimersByTime(10);
    expect(calls).toEqual([
      ['acme', true],
      ['acme', false],
    ]);
  });

  it('calls once for a run time and a wait that end together, as come due', () => {
    due.after('acme', 20);
    due.runAt('acme', Date.now() + 20);
    due.after('globex', 20);
    vi.advanceTimersByTime(20);
    expect(calls).toEqual([
      ['acme', true],
      ['globex', false],
    ]);
  });
});
