/** A local HTTP server standing in for an OTLP collector (OTLP/JSON over HTTP). */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpCollector {
  /** Where to send metrics: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT. */
  readonly metricsEndpoint: string;
  /** Every request received so far, in order. */
  readonly exports: ReadonlyArray<{ path: string; body: string }>;
  close(): Promise<void>;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const exports: Array<{ path: string; body: string }> = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      exports.push({ path: request.url ?? '', body });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    metricsEndpoint: `http://127.0.0.1:${port}/v1/metrics`,
    exports,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
