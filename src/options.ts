import { MAX_ATTEMPTS, MAX_BACKOFF_MS } from './broker/validation.js';

/**
 * Every option of the broker: its field in BrokerConfig, its environment
 * variable and `--flag`, its default and its help. This table is the one list
 * of options; src/config.ts reads the environment and argv by it and prints
 * `--help` from it. Kept apart from that reading: declaring or documenting an
 * option changes this file, not the parser.
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
  /** Queues with a metric label of their own; the rest are "other". */
  readonly metricsMaxQueues: number;
  /** Bearer token a scrape of the Prometheus endpoint must send (or its sha256: digest). */
  readonly metricsToken: string | undefined;
  readonly tenantsFile: string | undefined;
  /** Bearer token file (JSON or YAML); see src/grpc/tokens.ts. */
  readonly authFile: string | undefined;
  /** Bearer tokens inline: `token:role[:tenant1,tenant2]` entries separated by `;`. */
  readonly authTokens: string | undefined;
  /** Listen on a non-loopback address without auth, gRPC or metrics (logs a warning). @default false */
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
  /** ROTA_* names of other programs sharing the environment: neither refused nor warned of. */
  readonly ignoreVariables: readonly string[] | undefined;
}

type Kind = 'string' | 'optional' | 'list' | 'ms' | 'int' | 'bool';

export interface OptionSpec {
  readonly key: keyof BrokerConfig;
  readonly env: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly fallback: string | number | boolean | undefined;
  readonly help: string;
  /** The least number taken, and why, when it is not 1 (0: its help says what 0 means). */
  readonly min?: NumberBound;
  /**
   * The largest number taken, and why, when it is not the kind's own (a timer
   * for 'ms', a safe integer for 'int'): beyond its bound a value does not
   * fail at once but later, and far from the option that caused it.
   */
  readonly max?: NumberBound;
}

export interface NumberBound {
  readonly value: number;
  readonly why?: string;
}

const MINUTE = 60_000;
export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:9464';
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Node.js fires a longer timer after 1 ms (a lease TTL past it killed every session at once). */
export const TIMER_BOUND: NumberBound = { value: 2 ** 31 - 1, why: '24.8 days, the longest timer' };
/** Sent to clients in a uint32 field, which would wrap a larger value. */
const UINT32_BOUND: NumberBound = { value: 2 ** 32 - 1, why: 'its uint32 wire field' };
/**
 * Floors of the lease timings. A lease TTL under a second lapses at the first
 * GC pause or slow Redis reply, and is also the time a new session has to send
 * Hello; a heartbeat more often than 0.1 s (the clients' own floor when they
 * derive one) is traffic without gain. Both catch a value meant in seconds
 * (ROTA_LEASE_TTL_MS=30, ROTA_HEARTBEAT_INTERVAL_MS=5), which otherwise
 * started a broker whose sessions and leases lapsed all the time.
 */
const LEASE_TTL_FLOOR: NumberBound = { value: 1000, why: '1 s; the unit is milliseconds' };
const HEARTBEAT_FLOOR: NumberBound = { value: 100, why: '0.1 s; the unit is milliseconds' };
/** Retentions go to Redis as key TTLs; a bound well past any need keeps them integers there. */
const RETENTION_BOUND: NumberBound = { value: 3650 * DAY, why: '10 years' };
export const INT_BOUND: NumberBound = { value: Number.MAX_SAFE_INTEGER };
/** A default backoff past a job's own limit would make every Enqueue that leaves it unset fail. */
const BACKOFF_BOUND: NumberBound = { value: MAX_BACKOFF_MS, why: "7 days, a job's backoff limit" };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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
    help: 'Data folder of the private redis-server (only when no Redis URL is given); one broker per folder: a second is refused.',
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
    min: LEASE_TTL_FLOOR,
    help: 'A worker session silent this long is dead and its leases expire (at least 1000; keep it at least three times the Redis timeout).',
  },
  {
    key: 'heartbeatIntervalMs',
    env: 'ROTA_HEARTBEAT_INTERVAL_MS',
    flag: '--heartbeat-interval-ms',
    kind: 'ms',
    fallback: 5_000,
    min: HEARTBEAT_FLOOR,
    help: 'How often workers are told to send a heartbeat (at least 100, at most a third of the lease TTL).',
  },
  {
    key: 'maxPayloadBytes',
    env: 'ROTA_MAX_PAYLOAD_BYTES',
    flag: '--max-payload-bytes',
    kind: 'int',
    fallback: 1024 * 1024,
    max: { value: 512 * 1024 * 1024, why: '512 MiB, the largest string Redis stores' },
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
    key: 'metricsMaxQueues',
    env: 'ROTA_METRICS_MAX_QUEUES',
    flag: '--metrics-max-queues',
    kind: 'int',
    fallback: 100,
    help: 'Queues that get a metric label of their own; later ones are counted as "other".',
  },
  {
    key: 'metricsToken',
    env: 'ROTA_METRICS_TOKEN',
    flag: '--metrics-token',
    kind: 'optional',
    fallback: undefined,
    help: 'Bearer token a scrape of /metrics must send ("authorization: Bearer <token>"; else 401): the token (16 to 4096 printable characters) or sha256:<hex of its SHA-256>. The metrics name every tenant and queue, so a non-loopback metrics address needs it or --insecure.',
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
    help: 'Bearer tokens, JSON or YAML: a list (or { tokens: [...] }) of { token, role, tenants?, name? }. token is the secret (16 to 4096 characters) or sha256:<hex of its SHA-256>; role is producer, worker or admin; tenants limits the token to those tenants (left out: all tenants; an empty list is refused at start); an admin token so limited may pause and resume them but not set their weight, rates or caps. Clients send "authorization: Bearer <token>".',
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
    help: 'Allow listening on a non-loopback address without auth: the gRPC port without tokens or client certificates, the metrics endpoint without --metrics-token. Without it such a start fails. Logs a warning.',
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
    min: { value: 0 },
    max: RETENTION_BOUND,
    help: "How long completed and cancelled jobs stay readable (GetJob, results). 0: deleted as they end, as BullMQ's removeOnComplete; cheapest for Redis.",
  },
  {
    key: 'deadRetentionMs',
    env: 'ROTA_DEAD_RETENTION_MS',
    flag: '--dead-retention-ms',
    kind: 'ms',
    fallback: 14 * DAY,
    max: RETENTION_BOUND,
    help: 'How long dead jobs stay in the dead letter queue.',
  },
  {
    key: 'idempotencyRetentionMs',
    env: 'ROTA_IDEMPOTENCY_RETENTION_MS',
    flag: '--idempotency-retention-ms',
    kind: 'ms',
    fallback: DAY,
    max: RETENTION_BOUND,
    help: 'How long an idempotency key returns its first job.',
  },
  {
    key: 'defaultMaxAttempts',
    env: 'ROTA_DEFAULT_MAX_ATTEMPTS',
    flag: '--default-max-attempts',
    kind: 'int',
    fallback: 3,
    max: { value: MAX_ATTEMPTS, why: "a job's max_attempts limit" },
    help: 'Attempts of a job that does not set max_attempts.',
  },
  {
    key: 'defaultBackoffInitialMs',
    env: 'ROTA_DEFAULT_BACKOFF_INITIAL_MS',
    flag: '--default-backoff-initial-ms',
    kind: 'ms',
    fallback: 1_000,
    max: BACKOFF_BOUND,
    help: 'Base retry delay of a job that sets none.',
  },
  {
    key: 'defaultBackoffMaxMs',
    env: 'ROTA_DEFAULT_BACKOFF_MAX_MS',
    flag: '--default-backoff-max-ms',
    kind: 'ms',
    fallback: HOUR,
    max: BACKOFF_BOUND,
    help: 'Cap of one retry delay of a job that sets none.',
  },
  {
    key: 'maxBatchSize',
    env: 'ROTA_MAX_BATCH_SIZE',
    flag: '--max-batch-size',
    kind: 'int',
    fallback: 1000,
    max: UINT32_BOUND,
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
    help: 'A Redis connection that owes replies and sends nothing for this long (Redis hung, or the network lost without a reset) is closed and reconnected: calls answer UNAVAILABLE meanwhile, not hang. Above a third of the lease TTL, the start warns: a renewal held up this long can come too late.',
  },
  {
    key: 'shutdownGraceMs',
    env: 'ROTA_SHUTDOWN_GRACE_MS',
    flag: '--shutdown-grace-ms',
    kind: 'ms',
    fallback: 10_000,
    help: 'On SIGTERM, SIGINT or SIGHUP, how long workers get to finish and report their leases.',
  },
  {
    key: 'maxSessionCapacity',
    env: 'ROTA_MAX_SESSION_CAPACITY',
    flag: '--max-session-capacity',
    kind: 'int',
    fallback: 1000,
    max: UINT32_BOUND,
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
  {
    key: 'ignoreVariables',
    env: 'ROTA_IGNORE_VARIABLES',
    flag: '--ignore-variables',
    kind: 'list',
    fallback: undefined,
    help: 'Names of environment variables, separated by ",", that other programs sharing the environment read (e.g. "ROTA_AUTH_TOKEN,ROTA_TENANT" of a worker): the broker neither refuses a start for them, when they are a few letters from one of its options, nor warns of them.',
  },
];
