import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';
import { checkHealth, serviceClient, type ReflectionResponse } from '../helpers/health.js';

const h = useBroker();
const require = createRequire(import.meta.url);

describe('health and reflection', () => {
  it('is NOT_SERVING while Redis is down and SERVING again when it returns', async () => {
    const health = serviceClient(h.broker.address, healthProtoPath, 'grpc.health.v1.Health');
    try {
      expect(await checkHealth(health, '')).toBe('SERVING');
      expect(await checkHealth(health, 'rota.v1.Broker')).toBe('SERVING');
      await h.redis.kill();
      await eventually(async () =>
        (await checkHealth(health, '')) === 'NOT_SERVING' ? true : undefined,
      );
      await h.redis.restart();
      await eventually(
        async () =>
          (await checkHealth(health, 'rota.v1.Broker')) === 'SERVING' ? true : undefined,
        {
          timeoutMs: 15_000,
        },
      );
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'after-outage' });
      expect((await h.getJob('acme', job_id)).state).toBe('WAITING');
    } finally {
      health.close();
    }
  });

  it('lists the services through server reflection', async () => {
    const reflectionProto =
      require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const reflection = serviceClient(
      h.broker.address,
      reflectionProto,
      'grpc.reflection.v1.ServerReflection',
    );
    try {
      const stream = (
        reflection.ServerReflectionInfo as () => grpc.ClientDuplexStream<
          unknown,
          { list_services_response?: { service: Array<{ name: string }> } }
        >
      ).call(reflection);
      const names = await new Promise<string[]>((resolve, reject) => {
        stream.on('data', (response: ReflectionResponse) => {
          resolve(response.list_services_response?.service.map((s) => s.name) ?? []);
          stream.end();
        });
        stream.on('error', reject);
        stream.write({ list_services: '' });
      });
      expect(names).toEqual(expect.arrayContaining(['rota.v1.Broker', 'rota.v1.Admin']));
    } finally {
      reflection.close();
    }
  });
});
