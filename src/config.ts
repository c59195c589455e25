/**
 * Broker configuration: every option is an environment variable and a `--flag`
 * of `npm start` / `rota`. One table (src/options.ts) drives parsing, defaults
 * and `--help`, so the three cannot drift apart.
 */
import { LOG_LEVELS, OPTIONS, type BrokerConfig, type OptionSpec } from './options.js';

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
  const value = Number(raw);
  const least = spec.zeroAllowed ? 0 : 1;
  if (!Number.isInteger(value) || value < least) {
    const wanted = spec.zeroAllowed ? 'whole number, 0 or more' : 'positive whole number';
    throw new ConfigError(`${source} must be a ${wanted}, got "${raw}"`);
  }
  return value;
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
    'Telemetry is configured by the standard OTEL_* variables.',
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
