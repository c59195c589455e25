import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Broker } from './broker/broker.js';
import { configWarnings, DEFAULT_METRICS_ADDRESS, type BrokerConfig } from './config.js';
import { Audit } from './grpc/audit.js';
import { adminHandlers, brokerHandlers } from './grpc/broker-service.js';
import { loadRotaProto } from './grpc/proto.js';
import { addHealthAndReflection, type BrokerHealth } from './grpc/health.js';
import { requestBounds } from './grpc/request-bounds.js';
import { withTolerantDecoding } from './grpc/undecodable.js';
import { widenReceiveWindow } from './grpc/receive-window.js';
import { loadSecurity, type ServerSecurity } from './grpc/security.js';
import { StreamDrain } from './grpc/stream-drain.js';
import { createLogger } from './telemetry/logger.js';
import { otlpMetricsWanted } from './telemetry/otlp-metrics.js';
import { startMetrics, type MetricsEndpoint } from './telemetry/prometheus.js';

const DRAIN_POLL_MS = 20;
/** After the streams are told to end, calls still open are cut after this long. */
const FORCE_CLOSE_AFTER_MS = 1000;

export interface RunningBroker {
  /** host:port actually bound (port 0 in the config picks a free one). */
  readonly address: string;
  readonly broker: Broker;
  /** The Prometheus endpoint's URL, when metrics are on. */
  readonly metricsUrl: string | undefined;
  /**
   * Graceful stop: accepts no new calls, drains the enqueue streams (each
   * answers what it read and ends, telling its producer the rest was not
   * read), tells worker sessions to drain, records their acks for up to
   * `graceMs` (default: the configured grace), then ends the streams and
   * closes Redis. Leases still held stay in Redis for recovery; jobs read
   * ahead go back to their queues.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** Dies abruptly, as a crash would: no cleanup beyond closing sockets. For tests. */
  kill(): Promise<void>;
}

/** Room for a full EnqueueBatch of large payloads, and no more. */
function maxMessageBytes(config: BrokerConfig): number {
  return Math.max(16 * 1024 * 1024, 2 * config.maxPayloadBytes + 64 * 1024);
}

/**
 * The Prometheus endpoint. A second broker on one machine finds the default
 * port taken: it then runs without an endpoint and says so; an address set on
 * purpose that cannot be bound stops the start.
 */
async function openMetrics(
  config: BrokerConfig,
  logger: Logger,
  scrapeDigest: Buffer | undefined,
): Promise<MetricsEndpoint | undefined> {
  if (!config.metricsAddress && !otlpMetricsWanted(process.env)) return undefined;
  let metrics: MetricsEndpoint;
  try {
    metrics = await startMetrics(config.metricsAddress, scrapeDigest);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw error;
    if (code !== 'EADDRINUSE' || config.metricsAddress !== DEFAULT_METRICS_ADDRESS) {
      // Node's "listen EADDRINUSE: …" names neither the option nor the fix.
      throw new Error(
        code === 'EADDRINUSE'
          ? `the metrics address ${config.metricsAddress} is in use: stop what listens there, or set ROTA_METRICS_ADDRESS (--metrics-address) to a free host:port, or to off`
          : `cannot serve metrics on ${config.metricsAddress} (ROTA_METRICS_ADDRESS, --metrics-address): ${(error as Error).message}`,
        { cause: error },
      );
    }
    logger.warn(
      { address: config.metricsAddress },
      'metrics port in use (another broker?): running without a metrics endpoint; set ROTA_METRICS_ADDRESS',
    );
    if (!otlpMetricsWanted(process.env)) return undefined;
    metrics = await startMetrics(undefined, undefined);
  }
  if (metrics.url) logger.info({ url: metrics.url }, 'Prometheus metrics endpoint listening');
  if (metrics.otlp) logger.info('exporting metrics over OTLP (OTEL_METRICS_EXPORTER=otlp)');
  return metrics;
}

/** The Broker and Admin services, decoded leniently (see withTolerantDecoding). */
function addRotaServices(
  server: grpc.Server,
  broker: Broker,
  config: BrokerConfig,
  security: ServerSecurity,
  logger: Logger,
  enqueueStreams: StreamDrain,
): void {
  const { rota } = loadRotaProto();
  const edge = { logger, tokens: security.tokens, audit: new Audit(logger, broker.warnings) };
  const bounds = requestBounds(config);
  server.addService(
    withTolerantDecoding(rota.v1.Broker.service, bounds),
    brokerHandlers(broker, edge, {
      maxBatchSize: config.maxBatchSize,
      maxSessions: config.maxSessions,
      helloTimeoutMs: config.leaseTtlMs,
      maxPayloadBytes: config.maxPayloadBytes,
      enqueueStreams,
    }),
  );
  server.addService(
    withTolerantDecoding(rota.v1.Admin.service, bounds),
    adminHandlers(broker, edge),
  );
}

/**
 * Binds the gRPC address; returns the port bound. grpc-js reports a taken port
 * as "No address added out of total 1 resolved errors: [listen EADDRINUSE …]",
 * which names neither the cause's fix nor the option to change.
 */
function bindServer(
  server: grpc.Server,
  address: string,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => {
      if (!error) return resolve(port);
      reject(
        new Error(
          /EADDRINUSE/.test(error.message)
            ? `the gRPC address ${address} is in use (another broker?): stop what listens there, or set ROTA_GRPC_ADDRESS (--grpc-address) to a free host:port`
            : `cannot listen on the gRPC address ${address} (ROTA_GRPC_ADDRESS, --grpc-address): ${error.message}`,
          { cause: error },
        ),
      );
    });
  });
}

/**
 * Starts the broker on `config.redisUrl`. `security` is what loadSecurity made
 * of `config`, for a caller that checked it before starting anything else.
 */
export async function startBroker(
  config: BrokerConfig,
  logger: Logger = createLogger(config.logLevel),
  security?: ServerSecurity,
): Promise<RunningBroker> {
  if (!config.redisUrl) {
    throw new TypeError(
      'startBroker needs config.redisUrl; the rota command starts a local redis-server when none is given',
    );
  }
  for (const warning of configWarnings(config)) logger.warn(warning);
  // Tokens, TLS and the loopback rule first: a refused start touches nothing.
  security ??= await loadSecurity(config, logger);
  // A Redis that stops answering without closing the connection (stopped, or a
  // network that drops packets) would otherwise hold every call until TCP gives
  // up, many minutes later. commandTimeout fails the calls (UNAVAILABLE);
  // socketTimeout closes the connection, so health says NOT_SERVING until a
  // reconnect finds Redis answering (a command sent before the close is resent
  // then, as after any dropped connection: the scripts' fencing makes that
  // safe, and an ack's scripts answer a second run as the first).
  const redisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    connectionName: 'rota',
    commandTimeout: config.redisTimeoutMs,
    socketTimeout: config.redisTimeoutMs,
    // A failover that demotes this Redis to a replica keeps its connections
    // open: every write then fails READONLY for good, while the address (a DNS
    // name, a virtual IP) leads a new connection to the new primary. The
    // refused call answers UNAVAILABLE (nothing ran) and the connection is
    // made again.
    reconnectOnError: (error: Error) => /^READONLY /.test(error.message),
  };
  // No enableAutoPipelining: it defers single commands to the next tick while
  // the store's batches (sendBatch) go out at once, so a Progress written just before its
  // job's Complete reached Redis after it and was refused. Redis must see each
  // connection's commands in the order the broker issues them.
  const redis = new Redis(config.redisUrl, redisOptions);
  // The doorbell subscribes again itself after a reconnect (see Doorbell).
  const subscriber = new Redis(config.redisUrl, { ...redisOptions, autoResubscribe: false });
  for (const connection of [redis, subscriber]) {
    connection.on('error', (error: Error) => logger.warn({ err: error }, 'Redis connection error'));
  }
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes(config),
    'grpc.max_send_message_length': maxMessageBytes(config),
  });
  const enqueueStreams = new StreamDrain();
  let metrics: MetricsEndpoint | undefined;
  let broker: Broker | undefined;
  let health: BrokerHealth;
  let port: number;
  try {
    await Promise.all(
      [redis, subscriber].map((connection) =>
        untilReady(connection, config.redisStartTimeoutMs, logger),
      ),
    );
    metrics = await openMetrics(config, logger, security.metricsDigest);
    broker = new Broker({
      config,
      redis,
      subscriber,
      logger,
      ...(metrics ? { metrics } : {}),
    });
    await broker.start();
    addRotaServices(server, broker, config, security, logger, enqueueStreams);
    health = addHealthAndReflection(server, redis, logger);
    port = await bindServer(server, config.grpcAddress, security.credentials);
    widenReceiveWindow(server, logger);
  } catch (error) {
    // A start that fails part way leaves nothing running (timers, connections,
    // the metrics port), so a process that embeds the broker can go on or exit.
    server.forceShutdown();
    broker?.stop();
    redis.disconnect();
    subscriber.disconnect();
    await metrics?.close();
    throw error;
  }
  const host = config.grpcAddress.slice(0, config.grpcAddress.lastIndexOf(':'));
  const address = `${host}:${port}`;
  logger.info({ address, brokerId: broker.id }, 'rota broker listening');

  let stopped = false;
  return {
    address,
    broker,
    metricsUrl: metrics?.url,
    async shutdown(graceMs = config.shutdownGraceMs) {
      if (stopped) return;
      stopped = true;
      health.shuttingDown();
      logger.info({ graceMs }, 'shutting down: no new calls; enqueue streams and workers drain');
      const callsDone = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      // Cut by the forced close, a stream's unanswered jobs would be of
      // unknown fate; drained, its client sends them again elsewhere.
      enqueueStreams.start();
      broker.drain(graceMs);
      const deadline = Date.now() + graceMs;
      while (broker.leases.heldByWorkers > 0 && Date.now() < deadline) await sleep(DRAIN_POLL_MS);
      const left = broker.leases.heldByWorkers;
      if (left > 0)
        logger.warn({ leases: left }, 'grace period over: leases left in Redis for recovery');
      broker.stop();
      // Bounded: with Redis unreachable the holdings lapse by themselves, and
      // the jobs read ahead go back when a sweep finds them idle.
      await Promise.race([
        Promise.all([broker.releaseShared(), broker.releaseBuffered()]),
        sleep(FORCE_CLOSE_AFTER_MS),
      ]);
      await Promise.race([callsDone, sleep(FORCE_CLOSE_AFTER_MS)]);
      server.forceShutdown();
      await Promise.allSettled([redis.quit(), subscriber.quit(), metrics?.close()]);
      logger.info({ brokerId: broker.id }, 'rota broker stopped');
    },
    async kill() {
      if (stopped) return;
      stopped = true;
      health.shuttingDown();
      server.forceShutdown();
      broker.stop();
      redis.disconnect();
      subscriber.disconnect();
      await metrics?.close();
    },
  };
}

/**
 * What to fix when Redis answers with an error no retry will clear (a missing
 * or wrong password, something else than Redis on the port); undefined for
 * errors worth waiting out (refused, reset, loading).
 */
function lastingRedisProblem(message: string): string | undefined {
  if (/^NOAUTH\b/.test(message)) {
    return 'it wants a password: put it in ROTA_REDIS_URL (redis://:password@host:port, or redis://user:password@host:port for an ACL user)';
  }
  if (/^WRONGPASS\b|invalid username-password/i.test(message)) {
    return 'the user or password in ROTA_REDIS_URL is wrong';
  }
  if (/^Unknown RESP type/.test(message)) {
    return 'what answers there does not speak the Redis protocol; point ROTA_REDIS_URL at a Redis';
  }
  return undefined;
}

/**
 * Connects, and while Redis is unreachable keeps retrying (ioredis's own
 * backoff) for up to `timeoutMs`: a broker started before its Redis (a
 * container starting, a failover) comes up by itself. Then gives up with an
 * error that says what to fix; at once when Redis answers with an error no
 * retry will clear (lastingRedisProblem).
 */
function untilReady(connection: Redis, timeoutMs: number, logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    let lastError = 'no answer';
    let warned = false;
    const onError = (error: Error): void => {
      lastError = error.message;
      const advice = lastingRedisProblem(lastError);
      if (advice) {
        connection.disconnect();
        const { host, port } = connection.options;
        finish(new Error(`Redis at ${host}:${port} refused the broker (${lastError}): ${advice}`));
        return;
      }
      if (warned) return;
      warned = true;
      logger.warn(`Redis is not reachable yet (${lastError}); retrying for up to ${timeoutMs} ms`);
    };
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      connection.off('error', onError);
      connection.off('ready', onReady);
      if (error) reject(error);
      else resolve();
    };
    const onReady = (): void => finish();
    const timer = setTimeout(() => {
      connection.disconnect();
      const { host, port } = connection.options;
      finish(
        new Error(
          `Redis at ${host}:${port} is unreachable (${lastError}) after ${timeoutMs} ms; start it, or point ROTA_REDIS_URL at a running Redis (ROTA_REDIS_START_TIMEOUT_MS sets how long to wait)`,
        ),
      );
    }, timeoutMs);
    connection.on('error', onError);
    connection.once('ready', onReady);
    connection.connect().catch(() => undefined); // failures arrive as 'error'; ioredis retries
  });
}
