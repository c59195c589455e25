import type { Server } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { loadRotaPackageDefinition } from './proto.js';

const SERVICES = ['', 'rota.v1.Broker', 'rota.v1.Admin'];

/** The health of a broker that is stopping. */
export interface BrokerHealth {
  /**
   * NOT_SERVING from now on, whatever Redis does: the broker is shutting down.
   * Its own quit of the Redis connection then reads as what it is, not as an
   * outage ("Redis is unreachable" was logged at every graceful stop).
   */
  shuttingDown(): void;
}

/**
 * The standard grpc.health.v1.Health service, SERVING exactly while Redis is
 * reachable and the broker is not shutting down, and server reflection, so
 * generic tools (grpcurl, grpc-health-probe) can list and call the services.
 */
export function addHealthAndReflection(server: Server, redis: Redis, logger: Logger): BrokerHealth {
  const health = new HealthImplementation();
  let current: ServingStatus | undefined;
  let stopping = false;
  const set = (status: ServingStatus, why: string): void => {
    if (status === current) return;
    current = status;
    for (const service of SERVICES) health.setStatus(service, status);
    if (status === 'NOT_SERVING' && !stopping) logger.warn(`${why}: health is NOT_SERVING`);
    else logger.info(`${why}: health is ${status}`);
  };
  if (redis.status === 'ready') set('SERVING', 'Redis is reachable');
  else set('NOT_SERVING', 'Redis is unreachable');
  redis.on('ready', () => {
    if (!stopping) set('SERVING', 'Redis is reachable');
  });
  for (const event of ['close', 'end', 'reconnecting']) {
    redis.on(event, () => {
      if (!stopping) set('NOT_SERVING', 'Redis is unreachable');
    });
  }
  health.addToServer(server);
  new ReflectionService(loadRotaPackageDefinition()).addToServer(server);
  return {
    shuttingDown() {
      if (stopping) return;
      stopping = true;
      set('NOT_SERVING', 'shutting down');
    },
  };
}
