import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** bench/soak.ts run with these arguments; it exits before starting anything when they are wrong. */
function soak(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', 'tsx', 'bench/soak.ts', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('soak options', () => {
  // --help printed "soak: options" and the usage to stderr, and exited 2, as for a mistake.
  it('--help prints every option with its default to stdout and exits 0', () => {
    const { status, stdout, stderr } = soak('--help');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    for (const option of [
      '--duration <s>  ',
      '--fault-every <s>',
      '--workers <n>',
      '--concurrency <n>',
      '--rate <n>',
      '--job-ms <min>-<max>',
      '--faults <list>',
      '--settle <s>',
      '--keep-logs',
      '--brokers <n>',
      '--spread',
      '--mix',
      '--limits',
    ]) {
      expect(stdout).toContain(`  ${option}`);
    }
    expect(stdout).toContain('(default 60)');
  });

  it('names an unknown fault and the kinds it knows, a Redis stall among them', () => {
    const { status, stderr } = soak('--faults', 'worker,stal');
    expect(status).toBe(2);
    expect(stderr.split('\n')[0]).toBe(
      'soak: unknown fault stal (one of worker, broker, net, redis, stall); see --help',
    );
  });

  it('names a wrong option on stderr and exits 2', () => {
    const { status, stdout, stderr } = soak('--brokerz', '2');
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toBe('soak: unknown option --brokerz; see --help');
  });
});
