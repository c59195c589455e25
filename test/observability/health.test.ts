import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { useBroker } from '../helpers/harness.js';
import { eventually } from '../helpers/broker.js';

const h = useBroker();
const require = createRequire(import.meta.url);

type Callback = (error: Error | null, response?: { status: string }) => void;
interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
}
interface LoadedClient extends grpc.Client {
  Check(request: { service: string }, callback: Callback): void;
  ServerReflectionInfo(): grpc.ClientDuplexStream<{ list_services: string }, ReflectionResponse>;
}

function client(protoFile: string, service: string): LoadedClient {
  const definition = protoLoader.loadSync(protoFile, {
    keepCase: true,
    defaults: true,
    enums: String,
  });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of service.split('.')) node = (node as Record<string, unknown>)[part];
  const Client = node as grpc.ServiceClientConstructor;
  return new Client(h.broker.address, grpc.credentials.createInsecure()) as unknown as LoadedClient;
}

function check(health: LoadedClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    health.Check({ service }, (error, response) =>
      error ? reject(error) : resolve(response!.status),
    );
  });
}

describe('health and reflection', () => {
  it('is NOT_SERVING while Redis is down and SERVING again when it returns', async () => {
    const health = client(healthProtoPath, 'grpc.health.v1.Health');
    try {
      expect(await check(health, '')).toBe('SERVING');
      expect(await check(health, 'rota.v1.Broker')).toBe('SERVING');
      await h.redis.kill();
      await eventually(async () =>
        (await check(health, '')) === 'NOT_SERVING' ? true : undefined,
      );
      await h.redis.restart();
      await eventually(
        async () => ((await check(health, 'rota.v1.Broker')) === 'SERVING' ? true : undefined),
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
    const reflection = client(reflectionProto, 'grpc.reflection.v1.ServerReflection');
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
