/**
 * Broker configuration: every option is an environment variable and a `--flag`
 * of `npm start` / `rota`. One table (src/options.ts) drives parsing, defaults
 * and `--help`, so the three cannot drift apart.
 */
import {
  INT_BOUND,
  LOG_LEVELS,
  OPTIONS,
  TIMER_BOUND,
  type BrokerConfig,
  type NumberBound,
  type OptionSpec,
} from './options.js';

export { DEFAULT_METRICS_ADDRESS, OPTIONS, type BrokerConfig } from './options.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

const LEAST_NUMBER: NumberBound = { value: 1 };

function parseValue(
  spec: OptionSpec,
  raw: string,
  source: string,
): string | number | boolean | readonly string[] {
  if (spec.kind === 'bool') {
    if (TRUE.includes(raw.toLowerCase())) return true;
    if (FALSE.includes(raw.toLowerCase())) return false;
    throw new ConfigError(`${source} must be 1/true/yes/on or 0/false/no/off, got "${raw}"`);
  }
  if (spec.kind === 'string' || spec.kind === 'optional') {
    if (raw === '') throw new ConfigError(`${source} must not be empty`);
    return raw;
  }
  if (spec.kind === 'list') {
    const names = raw.split(',').map((name) => name.trim());
    if (!names.every((name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name))) {
      throw new ConfigError(
        `${source} must be environment variable names separated by ",", got "${raw}"`,
      );
    }
    return names;
  }
  // Plain digits only: Number() also reads "0x10" as 16 and "1e4" as 10000,
  // so a value in another notation (or a typo) would pass as some number.
  const value = Number(raw);
  const min = spec.min ?? LEAST_NUMBER;
  const max = spec.max ?? (spec.kind === 'ms' ? TIMER_BOUND : INT_BOUND);
  if (!/^[0-9]+$/.test(raw) || value < min.value || value > max.value) {
    throw new ConfigError(
      `${source} must be a whole number from ${describeBound(min)} to ${describeBound(max)}, got "${raw}"`,
    );
  }
  return value;
}

function describeBound(bound: NumberBound): string {
  return bound.why === undefined ? `${bound.value}` : `${bound.value} (${bound.why})`;
}

const REDIS_URL_FORMS = '(redis://host:port/db, redis://:password@host:port)';

/**
 * ioredis reads what is not a redis:// URL its own ways: "http://host:6379"
 * as the path of a unix socket, so the start waited out its timeout on an
 * error that named neither the option nor the fix. The URL is never shown:
 * it may hold a password.
 */
function checkRedisUrl(url: string): void {
  if (url.startsWith('/')) return; // a unix socket path, which ioredis takes as well
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new ConfigError(`${optionName('redisUrl')} is not a valid URL ${REDIS_URL_FORMS}`);
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new ConfigError(
      `${optionName('redisUrl')} must be a redis:// or rediss:// URL ${REDIS_URL_FORMS}, got one of scheme "${protocol}"`,
    );
  }
}

/**
 * ROTA_* names read by this repository's own programs other than the broker:
 * the examples' broker address, and knobs of the test and benchmark harnesses
 * (whose brokers inherit their environment). Not broker options, not typos.
 * test/config.test.ts finds every ROTA_ name those programs read here.
 */
const OTHER_PROGRAMS_VARIABLES = new Set([
  'ROTA_ADDRESS',
  'ROTA_BENCH_ROOT',
  'ROTA_BROKER_GRPC_TRACE',
  'ROTA_BROKER_LOG_LEVEL',
  'ROTA_KEEP_LOGS',
  'ROTA_PARENT_PID',
  'ROTA_TEST_LOG_LEVEL',
]);
const OTHER_PROGRAMS_PREFIXES = ['ROTA_FUZZ_'];
/** At most this many edits away from an option's name, an unknown name is that option mistyped. */
const TYPO_DISTANCE = 3;
/** At most this many edits away from ROTA, a name's prefix is ROTA mistyped (see optionOfMistypedPrefix). */
const PREFIX_TYPO_DISTANCE = 2;

/**
 * Environment variables named like the broker's (ROTA_…, in any case) that
 * are none of its options, nor read by this repository's other programs, nor
 * listed in `ignored` (--ignore-variables): `typos` are a few edits from an
 * option, or one with its last words left out (ROTA_LEASE_TTL), or one in
 * lower case; `unknown` are not.
 *
 * Why refuse a typo: the broker would start without the setting its operator
 * believes in force; a mistyped ROTA_REDIS_URL even starts a private Redis,
 * where every job enqueued is lost with the broker. Why only warn of the rest:
 * one environment may serve the broker and other programs of the same
 * deployment (a worker's ROTA_TENANT), whose names the broker cannot know.
 * Such a name that looks like a typo all the same can be listed in `ignored`.
 */
export function unknownVariables(
  env: NodeJS.ProcessEnv,
  ignored: readonly string[] = [],
): {
  typos: Array<{ name: string; meant: string }>;
  unknown: string[];
} {
  const typos: Array<{ name: string; meant: string }> = [];
  const unknown: string[] = [];
  for (const name of Object.keys(env)) {
    if (ignored.includes(name)) continue;
    if (!name.toUpperCase().startsWith('ROTA_')) {
      const meant = optionOfMistypedPrefix(name.toUpperCase());
      if (meant !== undefined) typos.push({ name, meant });
      continue;
    }
    if (OPTIONS.some((spec) => spec.env === name)) continue;
    if (OTHER_PROGRAMS_VARIABLES.has(name)) continue;
    if (OTHER_PROGRAMS_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const meant = meantOption(name.toUpperCase());
    if (meant !== undefined) typos.push({ name, meant });
    else unknown.push(name);
  }
  return { typos, unknown };
}

/**
 * The option a name whose ROTA_ prefix was mistyped meant (ROAT_REDIS_URL,
 * RTA_LOG_LEVEL): after the first "_" it is that option's name word for word,
 * and before it at most PREFIX_TYPO_DISTANCE edits from ROTA. Why: not
 * starting with ROTA_, it was not looked at, and a mistyped ROTA_REDIS_URL
 * started a private Redis all the same. Only an exact rest counts, so other
 * programs' names (DATA_DIR) are left alone.
 */
function optionOfMistypedPrefix(upper: string): string | undefined {
  const cut = upper.indexOf('_');
  if (cut < 1 || editDistance('ROTA', upper.slice(0, cut)) > PREFIX_TYPO_DISTANCE) return undefined;
  const rest = upper.slice(cut + 1);
  return OPTIONS.find(({ env }) => env === `ROTA_${rest}`)?.env;
}

/**
 * The option a name most likely meant: the fewest edits away, of those within
 * TYPO_DISTANCE or that start with the name and a "_". A name that stops
 * mid-word (ROTA_TENANT, of ROTA_TENANTS_FILE) is more likely another
 * program's than a typo.
 */
function meantOption(upper: string): string | undefined {
  let meant: { env: string; distance: number } | undefined;
  for (const { env } of OPTIONS) {
    const distance = editDistance(env, upper);
    if (distance > TYPO_DISTANCE && !env.startsWith(`${upper}_`)) continue;
    if (meant === undefined || distance < meant.distance) meant = { env, distance };
  }
  return meant?.env;
}

/** Levenshtein distance: the fewest single-character edits from one name to the other. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Builds a frozen config from defaults, then the environment, then argv flags. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = [],
  overrides: Partial<BrokerConfig> = {},
): BrokerConfig {
  const values: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    values[spec.key] = spec.fallback;
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') {
      values[spec.key] = parseValue(spec, fromEnv, spec.env);
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    const spec = OPTIONS.find((o) => o.flag === flag);
    if (!spec) throw new ConfigError(`unknown option ${arg}; see --help`);
    const raw = spec.kind === 'bool' ? (inline ?? 'true') : (inline ?? argv[++i]);
    if (raw === undefined) throw new ConfigError(`${flag} needs a value`);
    values[spec.key] = parseValue(spec, raw, flag);
  }
  Object.assign(values, overrides);
  if (values.metricsAddress === 'off') values.metricsAddress = undefined;
  const config = values as unknown as BrokerConfig;
  refuseTypos(env, config.ignoreVariables);
  validate(config);
  return Object.freeze(config);
}

function refuseTypos(env: NodeJS.ProcessEnv, ignored: readonly string[] | undefined): void {
  const { typos } = unknownVariables(env, ignored);
  if (typos.length === 0) return;
  const named = typos.map(({ name, meant }) => `${name} (did you mean ${meant}?)`);
  throw new ConfigError(
    `unknown environment variable${typos.length > 1 ? 's' : ''} ${named.join(', ')}: rename or unset, or list in ${optionName('ignoreVariables')} if another program reads it; see --help for the options`,
  );
}

/** An option as a user sets it: its flag and its environment variable. */
function optionName(key: keyof BrokerConfig): string {
  const spec = OPTIONS.find((o) => o.key === key)!;
  return `${spec.flag} (${spec.env})`;
}

function validate(config: BrokerConfig): void {
  if (config.redisUrl !== undefined) checkRedisUrl(config.redisUrl);
  if (config.heartbeatIntervalMs * 3 > config.leaseTtlMs) {
    throw new ConfigError(
      `${optionName('heartbeatIntervalMs')} is ${config.heartbeatIntervalMs}; it must be at most a third of ${optionName('leaseTtlMs')}, ${config.leaseTtlMs}, so one lost heartbeat does not kill a session`,
    );
  }
  if (config.defaultBackoffInitialMs > config.defaultBackoffMaxMs) {
    throw new ConfigError(
      `${optionName('defaultBackoffInitialMs')} is ${config.defaultBackoffInitialMs}; it must not exceed ${optionName('defaultBackoffMaxMs')}, ${config.defaultBackoffMaxMs}`,
    );
  }
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    throw new ConfigError(
      `${optionName('tlsCertFile')} and ${optionName('tlsKeyFile')} must be given together`,
    );
  }
  if (config.tlsClientCaFile !== undefined && config.tlsCertFile === undefined) {
    throw new ConfigError(
      `${optionName('tlsClientCaFile')} needs ${optionName('tlsCertFile')} and ${optionName('tlsKeyFile')}: mutual TLS is TLS first`,
    );
  }
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(config.keyPrefix)) {
    throw new ConfigError(
      `${optionName('keyPrefix')} is "${config.keyPrefix}"; it must match [A-Za-z0-9_.:-]{1,64}`,
    );
  }
  if (!LOG_LEVELS.includes(config.logLevel)) {
    throw new ConfigError(
      `${optionName('logLevel')} is "${config.logLevel}"; it must be one of ${LOG_LEVELS.join(', ')}`,
    );
  }
}

/**
 * Settings the broker runs with but that undo a guarantee under a fault, as
 * warnings to log at start. The broker renews its hold on the entries of its
 * leases every third of the lease TTL, and other brokers take entries left
 * unrenewed for the TTL. A renewal stuck on a connection that died without a
 * reset fails only after the Redis timeout: above a third of the TTL, the next
 * renewal can come too late, and another broker runs jobs whose workers are
 * still at them.
 */
export function configWarnings(config: BrokerConfig): string[] {
  const warnings: string[] = [];
  if (config.redisTimeoutMs * 3 > config.leaseTtlMs) {
    warnings.push(
      `${optionName('redisTimeoutMs')} is ${config.redisTimeoutMs}, more than a third of ${optionName('leaseTtlMs')}, ${config.leaseTtlMs}: a Redis connection lost without a reset can delay lease renewals until their jobs are taken as a dead broker's and run again while still running; lower the Redis timeout or raise the lease TTL`,
    );
  }
  return warnings;
}

export function helpText(): string {
  const lines = [
    'Usage: rota [options]     (npm start -- [options])',
    '',
    'Starts the Rota job broker. Every option is also an environment variable.',
    'Telemetry is configured by the standard OTEL_* variables. Numbers are whole, in',
    'plain digits; one out of range is refused with its bounds.',
    '',
    'Unknown ROTA_* variables: one a few letters from an option (ROTA_REDIS_ULR), or',
    'an option with its last words left out (ROTA_LEASE_TTL), is a typo, as is an',
    "option's name with ROTA mistyped (ROAT_REDIS_URL): the start is refused (exit",
    '2) naming the option meant. Any other ROTA_* is logged as a warning and',
    'ignored. Silent: ROTA_ADDRESS (the examples), the test and benchmark knobs of',
    'this repository, and the names listed in --ignore-variables.',
    '',
    'Security: without ROTA_AUTH_FILE/ROTA_AUTH_TOKENS (or client certificates) every',
    'caller may do anything, so the broker then only listens on loopback unless',
    '--insecure. With tokens, clients send "authorization: Bearer <token>"; roles:',
    'producer (Enqueue, EnqueueBatch, EnqueueStream, GetJob, CancelJob), worker (Work),',
    'admin (all); a token with tenants may only name those tenants, and an admin',
    'one only pause and resume them (SetTenant). /metrics follows the same loopback',
    'rule with its own token (--metrics-token).',
    '',
  ];
  for (const spec of OPTIONS) {
    const fallback = spec.fallback === undefined ? '' : ` (default ${spec.fallback})`;
    const usage = spec.kind === 'bool' ? `  ${spec.flag}` : `  ${spec.flag} <value>`;
    lines.push(`${usage.padEnd(33)} ${spec.env}`);
    lines.push(`      ${spec.help}${fallback}`);
  }
  lines.push(`${'  --help'.padEnd(33)} Show this text.`);
  return lines.join('\n');
}
