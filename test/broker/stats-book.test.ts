import { describe, expect, it } from 'vitest';
import { IDLE_FORGET_MS, StatsBook } from '../../src/broker/stats.js';

// The stats a broker keeps per tenant×queue are forgotten after an idle hour,
// so a broker that sees many short-lived tenants does not grow without bound.
describe('StatsBook', () => {
  it('forgets a tenant×queue idle for an hour, and keeps one with any recent event', () => {
    const book = new StatsBook();
    const start = 1_700_000_000_000;
    book.enqueued('idle', 'q', start);
    book.completed('idle', 'q', start, 5);
    book.enqueued('busy', 'q', start);
    book.waited('busy', 'q', start + IDLE_FORGET_MS - 1000, 3);

    expect(book.forgetIdle(start + IDLE_FORGET_MS - 1)).toBe(0);
    expect(book.forgetIdle(start + IDLE_FORGET_MS)).toBe(1);
    expect(book.pairs()).toEqual([{ tenant: 'busy', queue: 'q' }]);
    const idle = book.snapshot('idle', 'q', start + IDLE_FORGET_MS);
    expect(idle.runMs.count).toBe(0);
    expect(book.snapshot('busy', 'q', start + IDLE_FORGET_MS).waitMs.count).toBe(1);

    // An event after being forgotten starts the pair afresh.
    book.enqueued('idle', 'q', start + IDLE_FORGET_MS + 1);
    expect(book.snapshot('idle', 'q', start + IDLE_FORGET_MS + 1).runMs.count).toBe(0);
    expect(book.pairs()).toHaveLength(2);
  });
});
