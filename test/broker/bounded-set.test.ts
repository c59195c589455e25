import { describe, expect, it } from 'vitest';

import { BoundedSet } from '../../src/broker/bounded-set.js';

describe('BoundedSet', () => {
  it('forgets the values added longest ago once past its bound', () => {
    const set = new BoundedSet<string>(3);
    for (const value of ['a', 'b', 'c', 'd', 'e']) set.add(value);
    expect(set.size).toBe(3);
    expect(['a', 'b', 'c', 'd', 'e'].filter((value) => set.has(value))).toEqual(['c', 'd', 'e']);
  });

  it('keeps a value added again in its place in line, and makes room when one is deleted', () => {
    const set = new BoundedSet<string>(2);
    set.add('a');
    set.add('b');
    set.add('a'); // still the oldest
    set.add('c');
    expect([set.has('a'), set.has('b'), set.has('c')]).toEqual([false, true, true]);
    expect(set.delete('b')).toBe(true);
    set.add('d');
    expect([set.has('c'), set.has('d'), set.size]).toEqual([true, true, 2]);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new BoundedSet(0)).toThrow('max must be a positive integer, got 0');
  });
});
