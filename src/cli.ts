#!/usr/bin/env node
/**
 * `rota` / `npm start`: reads the configuration (environment and flags), starts
 * a private redis-server when no Redis URL is given, then the broker. SIGTERM
 * and SIGINT stop it gracefully.
 */
import { resolve } from 'node:path';
import {
  ConfigError,
  helpText,
  loadConfig,
  unknownVariables,
  type BrokerConfig,
} from './config.js';
import { startLocalRedis, type LocalRedis } from './redis/local-server.js';
import { startBroker } from './server.js';
import { createLogger } from './telemetry/logger.js';
import { startTracing } from './telemetry/sdk.js';

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText());
    return;
  }
  let config: BrokerConfig;
  try {
    config = loadConfig(process.env, argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      console.error(`rota: ${error.message}`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  for (const name of unknownVariables(process.env, config.ignoreVariables).unknown) {
    logger.warn({ variable: name }, `${name} is not a broker option: ignored (see --help)`);
  }
  const stopTracing = await startTracing();

  let localRedis: LocalRedis | undefined;
  if (!config.redisUrl) {
    const dir = resolve(config.redisDataDir);
    localRedis = await startLocalRedis({ dir, appendonly: true, appendfsync: 'everysec' });
    logger.info(
      { url: localRedis.url, dir },
      'no ROTA_REDIS_URL given: started a private redis-server (AOF everysec); it stops with the broker',
    );
    config = Object.freeze({ ...config, redisUrl: localRedis.url });
  }

  const running = await startBroker(config, logger);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    running
      .shutdown()
      .then(() => localRedis?.stop())
      .then(() => stopTracing())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`rota: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
