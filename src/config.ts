/**
 * Broker configuration: every option is an environment variable and a `--flag`
 * of `npm start` / `rota`. One table below drives parsing, defaults and `--help`,
 * so the three cannot drift apart.
 */

export interface BrokerConfig {
  /** Redis URL; undefined = start a private redis-server child. */
  readonly redisUrl: string | undefined;
  /** Folder of the private redis-server's data (AOF). */
  readonly redisDataDir: string;
  /** host:port the gRPC server binds. @default 127.0.0.1:50051 */
  readonly grpcAddress: string;
  readonly leaseTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxPayloadBytes: number;
  readonly keyPrefix: string;
  readonly logLevel: string;
  /** host:port of the Prometheus endpoint; undefined = no endpoint. */
  readonly metricsAddress: string | undefined;
  /** Tenants with a metric label of their own; the rest are "other". */
  readonly metricsMaxTenants: number;
  readonly tenantsFile: string | undefined;
  /** Bearer token file (JSON or YAML); see src/grpc/tokens.ts. */
  readonly authFile: string | undefined;
  /** Bearer tokens inline: `token:role[:tenant1,tenant2]` entries separated by `;`. */
  readonly authTokens: string | undefined;
  /** Listen on a non-loopback address without auth (logs a warning). @default false */
  readonly insecure: boolean;
  /** PEM certificate chain of the gRPC server; with tlsKeyFile turns TLS on. */
  readonly tlsCertFile: string | undefined;
  /** PEM private key of tlsCertFile. */
  readonly tlsKeyFile: string | undefined;
  /** PEM CA bundle: clients must present a certificate it signed (mutual TLS). */
  readonly tlsClientCaFile: string | undefined;
  /** Retention of completed and cancelled jobs; 0 deletes them as they end. */
  readonly completedRetentionMs: number;
  /** Retention of dead jobs (and their dead letter entries). */
  readonly deadRetentionMs: number;
  /** How long an idempotency key maps to its first job. */
  readonly idempotencyRetentionMs: number;
  readonly defaultMaxAttempts: number;
  readonly defaultBackoffInitialMs: number;
  readonly defaultBackoffMaxMs: number;
  /** Most items in one EnqueueBatch. */
  readonly maxBatchSize: number;
  /** Most leases one worker session may hold. */
  readonly maxSessionCapacity: number;
  /** Most jobs a queue's prefetch buffers hold. */
  readonly prefetchJobs: number;
  /** Most payload and header bytes a queue's prefetch buffers hold. */
  readonly prefetchBytes: number;
  /** Most worker sessions (Work streams past Hello) at once. */
  readonly maxSessions: number;
  /** Most tenant×queue pairs whose rates and percentiles the broker keeps for GetStats. */
  readonly statsMaxPairs: number;
  /** How long a graceful shutdown waits for workers to finish their leases. */
  readonly shutdownGraceMs: number;
  /** How long the start waits for an unreachable Redis before giving up. */
  readonly redisStartTimeoutMs: number;
  /** How long a Redis connection may owe replies without sending any before it counts as dead. */
  readonly redisTimeoutMs: number;
}

type Kind = 'string' | 'optional' | 'ms' | 'int' | 'bool';

interface OptionSpec {
  readonly key: keyof BrokerConfig;
  readonly env: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly fallback: string | number | boolean | undefined;
  readonly help: string;
  /** A number that may also be 0 (its help says what 0 means). */
  readonly zeroAllowed?: true;
}

const MINUTE = 60_000;
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9464';
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const OPTIONS: readonly OptionSpec[] = [
  {
    key: 'redisUrl',
    env: 'ROTA_REDIS_URL',
    flag: '--redis-url',
    kind: 'optional',
    fallback: undefined,
    help: 'Redis to use (redis://host:port/db; with a password redis://:password@host:port, or redis://user:password@host:port). Unset: start a private redis-server (AOF on).',
  },
  {
    key: 'redisDataDir',
    env: 'ROTA_REDIS_DATA_DIR',
    flag: '--redis-data-dir',
    kind: 'string',
    fallback: '.rota/redis',
    help: 'Data folder of the private redis-server (only when no Redis URL is given).',
  },
  {
    key: 'grpcAddress',
    env: 'ROTA_GRPC_ADDRESS',
    flag: '--grpc-address',
    kind: 'string',
    fallback: '127.0.0.1:50051',
    help: 'host:port the gRPC server listens on. A non-loopback address needs auth (tokens or client certificates) or --insecure.',
  },
  {
    key: 'leaseTtlMs',
    env: 'ROTA_LEASE_TTL_MS',
    flag: '--lease-ttl-ms',
    kind: 'ms',
    fallback: 30_000,
    help: 'A worker session silent this long is dead and its leases expire.',
  },
  {
    key: 'heartbeatIntervalMs',
    env: 'ROTA_HEARTBEAT_INTERVAL_MS',
    flag: '--heartbeat-interval-ms',
    kind: 'ms',
    fallback: 5_000,
    help: 'How often workers are told to send a heartbeat (at most a third of the lease TTL).',
  },
  {
    key: 'maxPayloadBytes',
    env: 'ROTA_MAX_PAYLOAD_BYTES',
    flag: '--max-payload-bytes',
    kind: 'int',
    fallback: 1024 * 1024,
    help: 'Largest job payload (and result) accepted.',
  },
  {
    key: 'keyPrefix',
    env: 'ROTA_KEY_PREFIX',
    flag: '--key-prefix',
    kind: 'string',
    fallback: 'rota',
    help: 'Prefix of every Redis key.',
  },
  {
    key: 'logLevel',
    env: 'ROTA_LOG_LEVEL',
    flag: '--log-level',
    kind: 'string',
    fallback: 'info',
    help: `pino log level: ${LOG_LEVELS.join(', ')}.`,
  },
  {
    key: 'metricsAddress',
    env: 'ROTA_METRICS_ADDRESS',
    flag: '--metrics-address',
    kind: 'optional',
    fallback: DEFAULT_METRICS_ADDRESS,
    help: 'host:port of the Prometheus endpoint (/metrics); "off" for none.',
  },
  {
    key: 'metricsMaxTenants',
    env: 'ROTA_METRICS_MAX_TENANTS',
    flag: '--metrics-max-tenants',
    kind: 'int',
    fallback: 100,
    help: 'Tenants that get a metric label of their own; later ones are counted as "other".',
  },
  {
    key: 'tenantsFile',
    env: 'ROTA_TENANTS_FILE',
    flag: '--tenants-file',
    kind: 'optional',
    fallback: undefined,
    help: 'JSON or YAML file of tenant settings applied at start: a list (or { tenants: [...] }) of SetTenant bodies. Applied again when Redis is back without its keys (restarted without persistence, an empty replica, flushed); not on a mere reconnect, which keeps the SetTenant changes made since.',
  },
  {
    key: 'authFile',
    env: 'ROTA_AUTH_FILE',
    flag: '--auth-file',
    kind: 'optional',
    fallback: undefined,
    help: 'Bearer tokens, JSON or YAML: a list (or { tokens: [...] }) of { token, role, tenants?, name? }. token is the secret (at least 16 characters) or sha256:<hex of its SHA-256>; role is producer, worker or admin; tenants limits the token to those tenants (left out: all tenants; an empty list is refused at start). Clients send "authorization: Bearer <token>".',
  },
  {
    key: 'authTokens',
    env: 'ROTA_AUTH_TOKENS',
    flag: '--auth-tokens',
    kind: 'optional',
    fallback: undefined,
    help: 'Bearer tokens inline, added to the file\'s: entries token:role[:tenant1,tenant2] separated by ";", e.g. "9c1e0f5b2a7d4e86:producer:acme,globex;sha256:<64 hex>:admin". Without :tenants, of every tenant (token:role: is refused). Plain tokens here must not contain ":" or ";".',
  },
  {
    key: 'insecure',
    env: 'ROTA_INSECURE',
    flag: '--insecure',
    kind: 'bool',
    fallback: false,
    help: 'Allow listening on a non-loopback address without auth (no tokens, no client certificates). Without it such a start fails. Logs a warning.',
  },
  {
    key: 'tlsCertFile',
    env: 'ROTA_TLS_CERT_FILE',
    flag: '--tls-cert-file',
    kind: 'optional',
    fallback: undefined,
    help: 'PEM certificate (chain) of the gRPC server; with --tls-key-file turns TLS on.',
  },
  {
    key: 'tlsKeyFile',
    env: 'ROTA_TLS_KEY_FILE',
    flag: '--tls-key-file',
    kind: 'optional',
    fallback: undefined,
    help: 'PEM private key of the server certificate.',
  },
  {
    key: 'tlsClientCaFile',
    env: 'ROTA_TLS_CLIENT_CA_FILE',
    flag: '--tls-client-ca-file',
    kind: 'optional',
    fallback: undefined,
    help: 'PEM CA certificate(s): clients must present a certificate signed by one (mutual TLS). Needs the server certificate and key.',
  },
  {
    key: 'completedRetentionMs',
    env: 'ROTA_COMPLETED_RETENTION_MS',
    flag: '--completed-retention-ms',
    kind: 'ms',
    fallback: DAY,
    zeroAllowed: true,
    help: "How long completed and cancelled jobs stay readable (GetJob, results). 0: deleted as they end, as BullMQ's removeOnComplete; cheapest for Redis.",
  },
  {
    key: 'deadRetentionMs',
    env: 'ROTA_DEAD_RETENTION_MS',
    flag: '--dead-retention-ms',
    kind: 'ms',
    fallback: 14 * DAY,
    help: 'How long dead jobs stay in the dead letter queue.',
  },
  {
    key: 'idempotencyRetentionMs',
    env: 'ROTA_IDEMPOTENCY_RETENTION_MS',
    flag: '--idempotency-retention-ms',
    kind: 'ms',
    fallback: DAY,
    help: 'How long an idempotency key returns its first job.',
  },
  {
    key: 'defaultMaxAttempts',
    env: 'ROTA_DEFAULT_MAX_ATTEMPTS',
    flag: '--default-max-attempts',
    kind: 'int',
    fallback: 3,
    help: 'Attempts of a job that does not set max_attempts.',
  },
  {
    key: 'defaultBackoffInitialMs',
    env: 'ROTA_DEFAULT_BACKOFF_INITIAL_MS',
    flag: '--default-backoff-initial-ms',
    kind: 'ms',
    fallback: 1_000,
    help: 'Base retry delay of a job that sets none.',
  },
  {
    key: 'defaultBackoffMaxMs',
    env: 'ROTA_DEFAULT_BACKOFF_MAX_MS',
    flag: '--default-backoff-max-ms',
    kind: 'ms',
    fallback: HOUR,
    help: 'Cap of one retry delay of a job that sets none.',
  },
  {
    key: 'maxBatchSize',
    env: 'ROTA_MAX_BATCH_SIZE',
    flag: '--max-batch-size',
    kind: 'int',
    fallback: 1000,
    help: 'Most jobs in one EnqueueBatch or EnqueueStream request; one over it is refused with INVALID_ARGUMENT (the TS Producer then resends it in parts of this size).',
  },
  {
    key: 'redisStartTimeoutMs',
    env: 'ROTA_REDIS_START_TIMEOUT_MS',
    flag: '--redis-start-timeout-ms',
    kind: 'ms',
    fallback: 30_000,
    help: 'At start, how long to keep trying an unreachable Redis before exiting with an error.',
  },
  {
    key: 'redisTimeoutMs',
    env: 'ROTA_REDIS_TIMEOUT_MS',
    flag: '--redis-timeout-ms',
    kind: 'ms',
    fallback: 10_000,
    help: 'A Redis connection that owes replies and sends nothing for this long (Redis hung, or the network lost without a reset) is closed and reconnected: calls answer UNAVAILABLE meanwhile, not hang.',
  },
  {
    key: 'shutdownGraceMs',
    env: 'ROTA_SHUTDOWN_GRACE_MS',
    flag: '--shutdown-grace-ms',
    kind: 'ms',
    fallback: 10_000,
    help: 'On SIGTERM/SIGINT, how long workers get to finish and report their leases.',
  },
  {
    key: 'maxSessionCapacity',
    env: 'ROTA_MAX_SESSION_CAPACITY',
    flag: '--max-session-capacity',
    kind: 'int',
    fallback: 1000,
    help: 'Most leases one worker session may hold.',
  },
  {
    key: 'prefetchJobs',
    env: 'ROTA_PREFETCH_JOBS',
    flag: '--prefetch-jobs',
    kind: 'int',
    fallback: 65_536,
    help: 'Most jobs of one queue the broker reads ahead of its workers (its memory bound per queue).',
  },
  {
    key: 'prefetchBytes',
    env: 'ROTA_PREFETCH_BYTES',
    flag: '--prefetch-bytes',
    kind: 'int',
    fallback: 64 * 1024 * 1024,
    help: 'Most payload and header bytes of one queue the broker reads ahead of its workers; one job may go past it.',
  },
  {
    key: 'maxSessions',
    env: 'ROTA_MAX_SESSIONS',
    flag: '--max-sessions',
    kind: 'int',
    fallback: 10_000,
    help: 'Most worker sessions at once; a Hello beyond it gets RESOURCE_EXHAUSTED.',
  },
  {
    key: 'statsMaxPairs',
    env: 'ROTA_STATS_MAX_PAIRS',
    flag: '--stats-max-pairs',
    kind: 'int',
    fallback: 50_000,
    help: 'Most queue × tenant pairs whose rates and wait/run percentiles the broker keeps for GetStats (up to 1.4 KB each); past it the longest idle are forgotten (their depths still come from Redis).',
  },
];

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
    'admin (all); a token with tenants may only name those tenants.',
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
