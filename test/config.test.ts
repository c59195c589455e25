import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  OPTIONS,
  configWarnings,
  loadConfig,
  unknownVariables,
} from '../src/config.js';

describe('config', () => {
  it('takes a completed-job retention of 0 (delete as they end), from env and flag', () => {
    expect(loadConfig({ ROTA_COMPLETED_RETENTION_MS: '0' }).completedRetentionMs).toBe(0);
    expect(loadConfig({}, ['--completed-retention-ms', '0']).completedRetentionMs).toBe(0);
    expect(loadConfig({}).completedRetentionMs).toBe(86_400_000);
  });

  it.each([
    [
      { ROTA_COMPLETED_RETENTION_MS: '-1' },
      'ROTA_COMPLETED_RETENTION_MS must be a whole number from 0 to 315360000000 (10 years), got "-1"',
    ],
    [
      { ROTA_COMPLETED_RETENTION_MS: '1.5' },
      'ROTA_COMPLETED_RETENTION_MS must be a whole number from 0 to 315360000000 (10 years), got "1.5"',
    ],
    [
      { ROTA_DEAD_RETENTION_MS: '0' },
      'ROTA_DEAD_RETENTION_MS must be a whole number from 1 to 315360000000 (10 years), got "0"',
    ],
    [
      { ROTA_SHUTDOWN_GRACE_MS: '0' },
      'ROTA_SHUTDOWN_GRACE_MS must be a whole number from 1 to 2147483647 (24.8 days, the longest timer), got "0"',
    ],
    // Number() read these as 16 and 10000: a typo or another notation passed as a value.
    [
      { ROTA_MAX_BATCH_SIZE: '0x10' },
      'ROTA_MAX_BATCH_SIZE must be a whole number from 1 to 4294967295 (its uint32 wire field), got "0x10"',
    ],
    [
      { ROTA_PREFETCH_JOBS: '1e4' },
      'ROTA_PREFETCH_JOBS must be a whole number from 1 to 9007199254740991, got "1e4"',
    ],
    // Past a timer's range, Node.js fires it after 1 ms: every session would die at once.
    [
      { ROTA_LEASE_TTL_MS: '3000000000' },
      'ROTA_LEASE_TTL_MS must be a whole number from 1000 (1 s; the unit is milliseconds) to 2147483647 (24.8 days, the longest timer), got "3000000000"',
    ],
    [
      { ROTA_SHUTDOWN_GRACE_MS: '99999999999' },
      'ROTA_SHUTDOWN_GRACE_MS must be a whole number from 1 to 2147483647 (24.8 days, the longest timer), got "99999999999"',
    ],
    // Defaults a job could not set itself: every Enqueue without them was refused.
    [
      { ROTA_DEFAULT_MAX_ATTEMPTS: '5000' },
      'ROTA_DEFAULT_MAX_ATTEMPTS must be a whole number from 1 to 1000 (a job\'s max_attempts limit), got "5000"',
    ],
    [
      { ROTA_DEFAULT_BACKOFF_MAX_MS: '2592000000' },
      'ROTA_DEFAULT_BACKOFF_MAX_MS must be a whole number from 1 to 604800000 (7 days, a job\'s backoff limit), got "2592000000"',
    ],
    [
      { ROTA_MAX_PAYLOAD_BYTES: '99999999999999999999' },
      'ROTA_MAX_PAYLOAD_BYTES must be a whole number from 1 to 536870912 (512 MiB, the largest string Redis stores), got "99999999999999999999"',
    ],
    [
      { ROTA_REDIS_URL: 'http://127.0.0.1:6379' },
      '--redis-url (ROTA_REDIS_URL) must be a redis:// or rediss:// URL (redis://host:port/db, redis://:password@host:port), got one of scheme "http:"',
    ],
    [
      { ROTA_REDIS_URL: 'redis://:secret@[bad' },
      '--redis-url (ROTA_REDIS_URL) is not a valid URL (redis://host:port/db, redis://:password@host:port)',
    ],
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
    // Meant in seconds: leases would lapse at the first slow Redis reply, and
    // every worker would send 200 heartbeats a second.
    [
      { ROTA_LEASE_TTL_MS: '30', ROTA_HEARTBEAT_INTERVAL_MS: '5' },
      'ROTA_LEASE_TTL_MS must be a whole number from 1000 (1 s; the unit is milliseconds) to 2147483647 (24.8 days, the longest timer), got "30"',
    ],
    [
      { ROTA_HEARTBEAT_INTERVAL_MS: '5' },
      'ROTA_HEARTBEAT_INTERVAL_MS must be a whole number from 100 (0.1 s; the unit is milliseconds) to 2147483647 (24.8 days, the longest timer), got "5"',
    ],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(message));
  });

  it('takes the largest values, and whole numbers in plain digits only', () => {
    expect(
      loadConfig({ ROTA_LEASE_TTL_MS: '2147483647', ROTA_MAX_PAYLOAD_BYTES: '536870912' }),
    ).toMatchObject({ leaseTtlMs: 2_147_483_647, maxPayloadBytes: 536_870_912 });
    expect(loadConfig({}, ['--max-batch-size', '4294967295']).maxBatchSize).toBe(4_294_967_295);
    expect(() => loadConfig({}, ['--max-batch-size', ' 7'])).toThrow(
      '--max-batch-size must be a whole number from 1 to 4294967295 (its uint32 wire field), got " 7"',
    );
  });

  it('takes redis:// and rediss:// URLs and unix socket paths, and never shows a password', () => {
    for (const url of [
      'redis://127.0.0.1:6379/2',
      'rediss://u:p@redis.internal:6380',
      '/run/redis.sock',
    ]) {
      expect(loadConfig({ ROTA_REDIS_URL: url }).redisUrl).toBe(url);
    }
    for (const url of ['https://user:hunter2@host', 'redis://:hunter2@[bad']) {
      expect(() => loadConfig({ ROTA_REDIS_URL: url })).toThrow(ConfigError);
      expect(() => loadConfig({ ROTA_REDIS_URL: url })).not.toThrow('hunter2');
    }
  });

  it.each([
    // A mistyped Redis URL started a private Redis: every job lost with the broker.
    ['ROTA_REDIS_ULR', 'ROTA_REDIS_URL'],
    ['ROTA_LEASE_TTL', 'ROTA_LEASE_TTL_MS'],
    ['ROTA_TLS_CERT', 'ROTA_TLS_CERT_FILE'],
    ['rota_redis_url', 'ROTA_REDIS_URL'],
    ['ROTA_PREFETCH_JOB', 'ROTA_PREFETCH_JOBS'],
    // The closest option, not the first near one: ROTA_MAX_SESSION_CAPACITY also starts so.
    ['ROTA_MAX_SESSION', 'ROTA_MAX_SESSIONS'],
    ['ROTA_REDIS', 'ROTA_REDIS_URL'],
  ])('refuses %s, a mistyped %s, naming both', (name, meant) => {
    expect(() => loadConfig({ [name]: '1' })).toThrow(
      new ConfigError(
        `unknown environment variable ${name} (did you mean ${meant}?): rename or unset, or list in --ignore-variables (ROTA_IGNORE_VARIABLES) if another program reads it; see --help for the options`,
      ),
    );
  });

  /** The start is refused naming every typo, in order; unknownVariables tells the same, and the other unknown names. */
  function expectRefused(
    env: Record<string, string>,
    typos: Array<{ name: string; meant: string }>,
    unknown: string[],
  ): void {
    const named = typos.map(({ name, meant }) => `${name} (did you mean ${meant}?)`).join(', ');
    expect(() => loadConfig(env)).toThrow(`unknown environment variables ${named}`);
    expect(unknownVariables(env)).toEqual({ typos, unknown });
  }

  it("names every mistyped variable at once, and leaves other programs' ROTA_ names alone", () => {
    const env = {
      ROTA_REDIS_ULR: 'redis://127.0.0.1:6379',
      ROTA_LOG_LEVL: 'info',
      ROTA_ADDRESS: '127.0.0.1:50051', // the examples' broker address
      ROTA_FUZZ_SEED: '7',
      ROTA_SOMETHING_ELSE: 'x',
      OTHER: 'y',
    };
    expectRefused(
      env,
      [
        { name: 'ROTA_REDIS_ULR', meant: 'ROTA_REDIS_URL' },
        { name: 'ROTA_LOG_LEVL', meant: 'ROTA_LOG_LEVEL' },
      ],
      ['ROTA_SOMETHING_ELSE'],
    );
    // Far from every option: started, and the command warns of it (test/broker/shutdown.test.ts).
    expect(loadConfig({ ROTA_SOMETHING_ELSE: 'x' }).logLevel).toBe('info');
  });

  it("refuses an option's name with ROTA mistyped, and leaves other programs' names alone", () => {
    // Not starting with ROTA_, ROAT_REDIS_URL went unseen: a private Redis, and the jobs with it.
    const env = {
      ROAT_REDIS_URL: 'redis://127.0.0.1:6379',
      rta_log_level: 'info',
      DATA_DIR: '/var/lib/app', // ROTA-like prefix, but no option's name after it
      REDIS_URL: 'redis://127.0.0.1:6379', // REDIS is far from ROTA
      NOTA_LEASE_TTL: '5', // an option's name cut short: not word for word
    };
    expectRefused(
      env,
      [
        { name: 'ROAT_REDIS_URL', meant: 'ROTA_REDIS_URL' },
        { name: 'rta_log_level', meant: 'ROTA_LOG_LEVEL' },
      ],
      [],
    );
    const listed = { ...env, ROTA_IGNORE_VARIABLES: 'ROAT_REDIS_URL,rta_log_level' };
    expect(loadConfig(listed).logLevel).toBe('info');
  });

  it("warns of a name that only starts like an option mid-word, as a producer's ROTA_TENANT", () => {
    // ROTA_TENANTS_FILE starts with it, but no word of the option was left out.
    const env = { ROTA_TENANT: 'acme', ROTA_QUEUE: 'email' };
    expect(loadConfig(env).tenantsFile).toBeUndefined();
    expect(unknownVariables(env)).toEqual({ typos: [], unknown: ['ROTA_TENANT', 'ROTA_QUEUE'] });
  });

  it("is silent about every ROTA_ name this repository's other programs read", () => {
    // An example, client, test or benchmark that reads a new ROTA_ name would
    // otherwise make a broker sharing its environment warn, or refuse to start.
    const read = new Set<string>();
    for (const dir of ['src', 'clients', 'examples', 'test', 'bench']) {
      const root = new URL(`../${dir}/`, import.meta.url);
      for (const file of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
        if (!file.endsWith('.ts')) continue;
        const text = readFileSync(new URL(file, root), 'utf8');
        for (const [, name] of text.matchAll(/env(?:\.|\[['"]|\(['"])(ROTA_[A-Z0-9_]+)/g)) {
          read.add(name!);
        }
      }
    }
    expect(read).toContain('ROTA_ADDRESS');
    expect(read).toContain('ROTA_FUZZ_SEED');
    const env = Object.fromEntries([...read].map((name) => [name, '1']));
    expect(unknownVariables(env)).toEqual({ typos: [], unknown: [] });
  });

  it('leaves alone the names listed in ROTA_IGNORE_VARIABLES or --ignore-variables', () => {
    // A worker sharing the environment reads ROTA_AUTH_TOKEN: one letter from an option.
    const env = { ROTA_AUTH_TOKEN: 't0k3n', ROTA_TENANT: 'acme', ROTA_OTHER: 'x' };
    expect(() => loadConfig(env)).toThrow('ROTA_AUTH_TOKEN (did you mean ROTA_AUTH_TOKENS?)');
    const listed = { ...env, ROTA_IGNORE_VARIABLES: 'ROTA_AUTH_TOKEN, ROTA_TENANT' };
    const config = loadConfig(listed);
    expect(config.ignoreVariables).toEqual(['ROTA_AUTH_TOKEN', 'ROTA_TENANT']);
    expect(unknownVariables(listed, config.ignoreVariables)).toEqual({
      typos: [],
      unknown: ['ROTA_OTHER'],
    });
    expect(
      loadConfig(env, ['--ignore-variables', 'ROTA_AUTH_TOKEN,ROTA_TENANT']).ignoreVariables,
    ).toEqual(['ROTA_AUTH_TOKEN', 'ROTA_TENANT']);
    expect(() => loadConfig({ ROTA_IGNORE_VARIABLES: 'ROTA_A,,ROTA_B' })).toThrow(
      new ConfigError(
        'ROTA_IGNORE_VARIABLES must be environment variable names separated by ",", got "ROTA_A,,ROTA_B"',
      ),
    );
  });

  it("takes the floors, and the short timings of the repository's tests", () => {
    expect(
      loadConfig({ ROTA_LEASE_TTL_MS: '1000', ROTA_HEARTBEAT_INTERVAL_MS: '100' }),
    ).toMatchObject({ leaseTtlMs: 1000, heartbeatIntervalMs: 100 });
    expect(
      loadConfig({}, ['--lease-ttl-ms', '1500', '--heartbeat-interval-ms', '300']),
    ).toMatchObject({ leaseTtlMs: 1500, heartbeatIntervalMs: 300 });
  });

  it('warns of a Redis timeout above a third of the lease TTL, which lets a stalled renewal come too late', () => {
    expect(configWarnings(loadConfig({}))).toEqual([]);
    expect(
      configWarnings(
        loadConfig({
          ROTA_LEASE_TTL_MS: '9000',
          ROTA_HEARTBEAT_INTERVAL_MS: '3000',
          ROTA_REDIS_TIMEOUT_MS: '3000',
        }),
      ),
    ).toEqual([]);
    const [warning, ...others] = configWarnings(
      loadConfig({ ROTA_LEASE_TTL_MS: '9000', ROTA_HEARTBEAT_INTERVAL_MS: '3000' }),
    );
    expect(others).toEqual([]);
    expect(warning).toMatch(
      /^--redis-timeout-ms \(ROTA_REDIS_TIMEOUT_MS\) is 10000, more than a third of --lease-ttl-ms \(ROTA_LEASE_TTL_MS\), 9000: .*lower the Redis timeout or raise the lease TTL$/,
    );
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
