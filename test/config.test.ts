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
