#!/usr/bin/env node
/**
 * `rota` / `npm start`: reads the configuration (environment and flags), checks
 * its security options, starts a private redis-server when no Redis URL is
 * given, then the broker. SIGTERM, SIGINT and SIGHUP stop it gracefully, also
 * while it starts. A bad option exits 2, any other failed start 1.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import {
  ConfigError,
  helpText,
  loadConfig,
  unknownVariables,
  type BrokerConfig,
} from './config.js';
import { loadSecurity } from './grpc/security.js';
import { startLocalRedis, type LocalRedis } from './redis/local-server.js';
import { startBroker, type RunningBroker } from './server.js';
import { createLogger } from './telemetry/logger.js';
import { startTracing } from './telemetry/sdk.js';

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText());
    return;
  }
  let config = loadConfig(process.env, argv);
  const logger = createLogger(config.logLevel);
  for (const name of unknownVariables(process.env, config.ignoreVariables).unknown) {
    logger.warn({ variable: name }, `${name} is not a broker option: ignored (see --help)`);
  }

  // Listening from the first moment: a signal during the start stops what has started so far.
  const parts: Parts = {};
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, parts.broker ? 'stopping' : 'stopping before the start is done');
    stopParts(parts).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A closed terminal: by default it killed the broker undrained, and its
  // redis-server, in a process group of its own, got no SIGHUP and ran on.
  process.on('SIGHUP', stop);

  // Tokens, TLS and the loopback rule before anything starts: a refused start touches nothing.
  const security = await loadSecurity(config, logger);
  parts.stopTracing = await startTracing();
  if (!config.redisUrl) {
    parts.localRedis = startPrivateRedis(config, logger);
    const { url } = await parts.localRedis;
    config = Object.freeze({ ...config, redisUrl: url });
  }
  if (stopping) return;
  try {
    parts.broker = await startBroker(config, logger, security);
  } catch (error) {
    if (stopping) return; // the stop is under way; the start failed because of it
    await stopParts(parts);
    throw error;
  }
}

/** What the command has started so far; stopped in the reverse order. */
interface Parts {
  stopTracing?: () => Promise<void>;
  /** Waited for when still starting: its redis-server outlives this process if not stopped. */
  localRedis?: Promise<LocalRedis>;
  broker?: RunningBroker;
}

/**
 * Stops the broker (draining its workers) and then the private Redis, which
 * the workers' last reports still need. A broker still starting is abandoned:
 * it holds nothing the process's exit does not release, as after a crash.
 */
async function stopParts(parts: Parts): Promise<void> {
  const { broker, localRedis, stopTracing } = parts;
  await broker?.shutdown();
  await (await localRedis?.catch(() => undefined))?.stop();
  await stopTracing?.();
}

/**
 * The redis-server of a start without ROTA_REDIS_URL. It runs in a process
 * group of its own, so that a Ctrl-C, which signals the terminal's whole
 * group, reaches only the broker, which stops it after its drain.
 */
async function startPrivateRedis(config: BrokerConfig, logger: Logger): Promise<LocalRedis> {
  const dir = resolve(config.redisDataDir);
  const redis = await startLocalRedis({
    dir,
    appendonly: true,
    appendfsync: 'everysec',
    detached: true,
  });
  if (redis.leftover) {
    logger.warn(
      { dir, ...redis.leftover },
      'stopped the redis-server that a killed rota (owner) had left running on this data folder',
    );
  }
  logger.info(
    { url: redis.url, dir },
    'no ROTA_REDIS_URL given: started a private redis-server (AOF everysec); it stops with the broker',
  );
  return redis;
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`rota: ${error instanceof Error ? error.message : String(error)}`);
  // Also a bad value found after loadConfig (a token, a TLS file): a bad option all the same.
  process.exit(error instanceof ConfigError ? 2 : 1);
});
