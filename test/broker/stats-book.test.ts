import { describe, expect, it } from 'vitest';
import { IDLE_FORGET_MS, LogHistogram, StatsBook } from '../../src/broker/stats.js';

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

describe('StatsBook bound', () => {
  const start = 1_700_000_000_000;
  const named = (book: StatsBook): string[] => book.pairs().map((pair) => pair.tenant);

  it('past maxPairs forgets the pairs seen least recently, a tenth of them at a time', () => {
    const heard: number[] = [];
    const book = new StatsBook(20, (forgotten) => heard.push(forgotten));
    for (let i = 0; i < 20; i++) book.enqueued(`p${i}`, 'q', start + i);
    book.completed('p0', 'q', start + 100, 5); // p0 is now the most recent
    expect(heard).toEqual([]);

    book.enqueued('p20', 'q', start + 101);
    expect(heard).toEqual([2]);
    expect(named(book)).toEqual(['p0', ...Array.from({ length: 18 }, (_, i) => `p${i + 3}`)]);
    expect(book.snapshot('p0', 'q', start + 101).runMs.count).toBe(1);
    expect(book.snapshot('p1', 'q', start + 101).enqueuedPerSecond).toBe(0);

    // Room for one more before the next pass; an event of a known pair makes none.
    book.enqueued('p21', 'q', start + 102);
    book.enqueued('p5', 'q', start + 103);
    expect(heard).toEqual([2]);
    book.enqueued('p22', 'q', start + 104);
    expect(heard).toEqual([2, 2]);
    expect(named(book)).not.toContain('p3');
    expect(named(book)).not.toContain('p4');
    expect(named(book)).toContain('p5');
    expect(book.pairs()).toHaveLength(19);
  });

  it('drops an older pair before any tied at the cutoff, whatever their order', () => {
    const book = new StatsBook(20);
    book.enqueued('tie-a', 'q', start + 5);
    book.enqueued('tie-b', 'q', start + 5);
    for (let i = 0; i < 17; i++) book.enqueued(`p${i}`, 'q', start + 10);
    book.enqueued('oldest', 'q', start + 1); // last in order, first to go
    book.enqueued('new', 'q', start + 11);
    const left = named(book);
    expect(left).not.toContain('oldest');
    expect(left).not.toContain('tie-a');
    expect(left).toContain('tie-b');
    expect(left).toHaveLength(19);
  });

  it('with room for one pair keeps the latest', () => {
    const book = new StatsBook(1);
    book.enqueued('a', 'q', start);
    book.enqueued('b', 'q', start + 1);
    expect(book.pairs()).toEqual([{ tenant: 'b', queue: 'q' }]);
  });
});

describe('LogHistogram', () => {
  it('answers each percentile within a quarter doubling above the true value, however its range grew', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    // Values first in the middle, then far below and far above: the counted range grows both ways.
    const values = [
      ...Array.from({ length: 300 }, () => 5 + random() * 20),
      ...Array.from({ length: 300 }, () => 0.02 + random() * 0.05),
      ...Array.from({ length: 300 }, () => 1e5 + random() * 1e7),
    ];
    const histogram = new LogHistogram();
    expect(histogram.percentile(50)).toBe(0);
    for (const value of values) histogram.record(value);
    const sorted = [...values].sort((a, b) => a - b);
    expect(histogram.count).toBe(values.length);
    for (const p of [1, 10, 33, 50, 67, 90, 95, 99, 100]) {
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      const answer = histogram.percentile(p);
      expect(answer).toBeGreaterThanOrEqual(exact);
      expect(answer).toBeLessThanOrEqual(exact * 2 ** 0.25 * 1.000001);
    }
  });

  it('puts values below 10 µs and above its top bucket in its end buckets', () => {
    const histogram = new LogHistogram();
    histogram.record(0);
    histogram.record(1e15);
    expect(histogram.percentile(50)).toBe(0.01);
    expect(histogram.percentile(100)).toBe(0.01 * 2 ** (127 / 4));
  });
});

describe('StatsBook rates', () => {
  it('counts each series apart over the last minute', () => {
    const book = new StatsBook();
    const start = 1_700_000_000_000;
    for (let i = 0; i < 6; i++) book.enqueued('t', 'q', start + i);
    for (let i = 0; i < 3; i++) book.completed('t', 'q', start + i, 1);
    book.failed('t', 'q', start, 1);
    const now = book.snapshot('t', 'q', start + 1000);
    expect([now.enqueuedPerSecond, now.completedPerSecond, now.failedPerSecond]).toEqual([
      6 / 60,
      3 / 60,
      1 / 60,
    ]);
    const later = book.snapshot('t', 'q', start + 61_000);
    expect([later.enqueuedPerSecond, later.completedPerSecond, later.failedPerSecond]).toEqual([
      0, 0, 0,
    ]);
  });
});
