import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, OPTIONS, loadConfig } from '../src/config.js';

describe('config', () => {
  it('takes a completed-job retention of 0 (delete as they end), from env and flag', () => {
    expect(loadConfig({ ROTA_COMPLETED_RETENTION_MS: '0' }).completedRetentionMs).toBe(0);
    expect(loadConfig({}, ['--completed-retention-ms', '0']).completedRetentionMs).toBe(0);
    expect(loadConfig({}).completedRetentionMs).toBe(86_400_000);
  });

  it.each([
    [
      { ROTA_COMPLETED_RETENTION_MS: '-1' },
      'ROTA_COMPLETED_RETENTION_MS must be a whole number, 0 or more, got "-1"',
    ],
    [
      { ROTA_COMPLETED_RETENTION_MS: '1.5' },
      'ROTA_COMPLETED_RETENTION_MS must be a whole number, 0 or more, got "1.5"',
    ],
    [
      { ROTA_DEAD_RETENTION_MS: '0' },
      'ROTA_DEAD_RETENTION_MS must be a positive whole number, got "0"',
    ],
    [{ ROTA_LEASE_TTL_MS: '0' }, 'ROTA_LEASE_TTL_MS must be a positive whole number, got "0"'],
    [
      { ROTA_LEASE_TTL_MS: '9000', ROTA_HEARTBEAT_INTERVAL_MS: '5000' },
      '--heartbeat-interval-ms (ROTA_HEARTBEAT_INTERVAL_MS) is 5000; it must be at most a third of --lease-ttl-ms (ROTA_LEASE_TTL_MS), 9000, so one lost heartbeat does not kill a session',
    ],
    [
      { ROTA_LOG_LEVEL: 'loud' },
      '--log-level (ROTA_LOG_LEVEL) is "loud"; it must be one of fatal, error, warn, info, debug, trace, silent',
    ],
    [
      { ROTA_KEY_PREFIX: 'a b' },
      '--key-prefix (ROTA_KEY_PREFIX) is "a b"; it must match [A-Za-z0-9_.:-]{1,64}',
    ],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  it("is documented: the README's option table has a row per option, with its flag and default", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = new Map(
      readme
        .split('\n')
        .filter((line) => line.startsWith('| `ROTA_'))
        .map((line) => [line.split('`')[1], line.split('|').map((cell) => cell.trim())]),
    );
    for (const option of OPTIONS) {
      const row = rows.get(option.env);
      expect(row, `${option.env} has no row in the README's option table`).toBeDefined();
      expect(row![2]).toBe(`\`${option.flag}\``);
      const fallback = option.fallback === undefined ? 'unset' : `\`${String(option.fallback)}\``;
      expect(row![3]!.startsWith(fallback), `${option.env}'s default in the README`).toBe(true);
    }
    expect([...rows.keys()].sort()).toEqual(OPTIONS.map((option) => option.env).sort());
  });
});
