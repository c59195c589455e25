import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/scheduler/index.js';

describe('TokenBucket', () => {
  it('starts full and refills continuously, capped at burst', () => {
    const bucket = new TokenBucket(10, 5, 0);
    expect(bucket.level(0)).toBe(5);
    for (let i = 0; i < 5; i++) bucket.take(0);
    expect(bucket.level(0)).toBe(0);
    expect(bucket.level(250)).toBeCloseTo(2.5, 12);
    expect(bucket.level(10_000)).toBe(5);
  });

  it('does not overshoot the cap after sitting full for a long time', () => {
    const bucket = new TokenBucket(10, 2, 0);
    bucket.take(60_000); // full for a minute: still only 2 tokens
    bucket.take(60_000);
    expect(bucket.level(60_000)).toBe(0);
    expect(bucket.availableAt()).toBe(60_100);
  });

  it('says exactly when the next token is due, and that time finds it', () => {
    const bucket = new TokenBucket(3, 1, 0);
    bucket.take(0);
    expect(bucket.availableAt()).toBe(1000 / 3);
    expect(bucket.level(1000 / 3)).toBeGreaterThanOrEqual(1 - 1e-12);
    bucket.take(bucket.availableAt());
    expect(bucket.availableAt()).toBe(2000 / 3);
  });

  it.each([
    [0.3, 2],
    [3, 2],
    [7, 3],
  ])('is exact over 10 simulated minutes polled every ms (rate %s/s, burst %s)', (rate, burst) => {
    // Adding elapsed × rate to a running level at each poll instead ends with 181 of 182 at 0.3/s.
    const bucket = new TokenBucket(rate, burst, 0);
    let taken = 0;
    for (let now = 0; now <= 600_000; now++) {
      while (bucket.availableAt() <= now) {
        bucket.take(now);
        taken++;
      }
    }
    expect(taken).toBe(burst + 600 * rate);
  });

  it('keeps the tokens it holds when reconfigured, capped at the new size', () => {
    const bucket = new TokenBucket(1, 10, 0);
    for (let i = 0; i < 6; i++) bucket.take(0); // 4 left
    bucket.reconfigure(100, 2, 0);
    expect(bucket.level(0)).toBe(2);
    bucket.take(0);
    bucket.take(0);
    expect(bucket.availableAt()).toBe(10); // 100/s now
  });

  it('refuses a bucket that could never hold a token', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(1, 0.5, 0)).toThrow(RangeError);
  });
});
