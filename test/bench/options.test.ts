import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseArgs, UsageError } from '../../bench/lib/options.js';
import { BROKER_MMAP_THRESHOLD, BROKER_NODE_FLAGS } from '../../bench/lib/rota-broker.js';

describe('bench options', () => {
  it('takes --warmup-jobs 0 as no warm-up, as its help says', () => {
    expect(parseArgs(['scale', '--warmup-jobs', '0'])?.knobs.warmupJobs).toBe(0);
  });

  it('refuses 0 where it would mean nothing to run, and negative warm-ups', () => {
    expect(() => parseArgs(['--jobs', '0'])).toThrow(UsageError);
    expect(() => parseArgs(['--warmup-jobs', '-5'])).toThrow(/--warmup-jobs needs a number ≥ 0/);
  });

  it('gives its brokers the malloc threshold and node flags `npm start` gives the broker', () => {
    const scripts = (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    expect(scripts.start).toContain(`MALLOC_MMAP_THRESHOLD_:-${BROKER_MMAP_THRESHOLD}}`);
    expect(scripts.start).toContain(`tsx ${BROKER_NODE_FLAGS.join(' ')} src/cli.ts`);
  });

  it("runs the broker with V8's parallel GC only when --parallel-gc asks", () => {
    expect(parseArgs(['latency'])?.parallelGc).toBe(false);
    expect(parseArgs(['latency', '--parallel-gc'])?.parallelGc).toBe(true);
  });
});
