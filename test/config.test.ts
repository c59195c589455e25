import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

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
});
