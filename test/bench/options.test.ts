import { describe, expect, it } from 'vitest';
import { parseArgs, UsageError } from '../../bench/lib/options.js';

describe('bench options', () => {
  it('takes --warmup-jobs 0 as no warm-up, as its help says', () => {
    expect(parseArgs(['scale', '--warmup-jobs', '0'])?.knobs.warmupJobs).toBe(0);
  });

  it('refuses 0 where it would mean nothing to run, and negative warm-ups', () => {
    expect(() => parseArgs(['--jobs', '0'])).toThrow(UsageError);
    expect(() => parseArgs(['--warmup-jobs', '-5'])).toThrow(/--warmup-jobs needs a number ≥ 0/);
  });
});
