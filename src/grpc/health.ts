import type { Server } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { loadRotaPackageDefinition } from './proto.js';

const SERVICES = ['', 'rota.v1.Broker', 'rota.v1.Admin'];

/**
 * The standard grpc.health.v1.Health service, SERVING exactly while Redis is
 * reachable, and server reflection, so generic tools (grpcurl, grpc-health-probe)
 * can list and call the services.
 */
export function addHealthAndReflection(server: Server, redis: Redis, logger: Logger): void {
  const health = new HealthImplementation();
  let current: ServingStatus | undefined;
  const set = (status: ServingStatus): void => {
    if (status === current) return;
    current = status;
    for (const service of SERVICES) health.setStatus(service, status);
    if (status === 'NOT_SERVING') logger.warn('Redis is unreachable: health is NOT_SERVING');
    else logger.info('Redis is reachable: health is SERVING');
  };
  set(redis.status === 'ready' ? 'SERVING' : 'NOT_SERVING');
  redis.on('ready', () => set('SERVING'));
  for (const event of ['close', 'end', 'reconnecting']) redis.on(event, () => set('NOT_SERVING'));
  health.addToServer(server);
  new ReflectionService(loadRotaPackageDefinition()).addToServer(server);
}
