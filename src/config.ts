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
  type OptionSpec,
} from './options.js';

export { DEFAULT_METRICS_ADDRESS, OPTIONS, type BrokerConfig } from './options.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

function parseValue(spec: OptionSpec, raw: string, source: string): string | number | boolean {
  if (spec.kind === 'bool') {
    if (TRUE.includes(raw.toLowerCase())) return true;
    if (FALSE.includes(raw.toLowerCase())) return false;
    throw new ConfigError(`${source} must be 1/true/yes/on or 0/false/no/off, got "${raw}"`);
  }
  if (spec.kind === 'string' || spec.kind === 'optional') {
    if (raw === '') throw new ConfigError(`${source} must not be empty`);
    return raw;
  }
  // Plain digits only: Number() also reads "0x10" as 16 and "1e4" as 10000,
  // so a value in another notation (or a typo) would pass as some number.
  const value = Number(raw);
  const least = spec.zeroAllowed ? 0 : 1;
  const max = spec.max ?? (spec.kind === 'ms' ? TIMER_BOUND : INT_BOUND);
  if (!/^[0-9]+$/.test(raw) || value < least || value > max.value) {
    const why = max.why === undefined ? '' : ` (${max.why})`;
    throw new ConfigError(
      `${source} must be a whole number from ${least} to ${max.value}${why}, got "${raw}"`,
    );
  }
  return value;
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
  validate(config);
  return Object.freeze(config);
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

export function helpText(): string {
  const lines = [
    'Usage: rota [options]     (npm start -- [options])',
    '',
    'Starts the Rota job broker. Every option is also an environment variable.',
    'Telemetry is configured by the standard OTEL_* variables. Numbers are whole, in',
    'plain digits; one out of range is refused with its bounds.',
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
