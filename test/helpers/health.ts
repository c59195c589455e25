/** gRPC clients of the standard services a broker serves beside Rota's: health and reflection. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

type Callback = (error: Error | null, response?: { status: string }) => void;
export interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
}
export interface LoadedClient extends grpc.Client {
  Check(request: { service: string }, callback: Callback): void;
  ServerReflectionInfo(): grpc.ClientDuplexStream<{ list_services: string }, ReflectionResponse>;
}

export function serviceClient(address: string, protoFile: string, service: string): LoadedClient {
  const definition = protoLoader.loadSync(protoFile, {
    keepCase: true,
    defaults: true,
    enums: String,
  });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of service.split('.')) node = (node as Record<string, unknown>)[part];
  const Client = node as grpc.ServiceClientConstructor;
  return new Client(address, grpc.credentials.createInsecure()) as unknown as LoadedClient;
}

/** The health status of `service` ('' = the whole server). */
export function checkHealth(health: LoadedClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => {
    health.Check({ service }, (error, response) =>
      error ? reject(error) : resolve(response!.status),
    );
  });
}
