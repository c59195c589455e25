import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';

export interface MetricsEndpoint {
  readonly meter: Meter;
  /** http://host:port/metrics actually bound. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A Prometheus scrape endpoint at http://<address>/metrics, with a meter of its
 * own (not the global one, so several brokers in one process stay apart). We
 * own the HTTP server, so port 0 works and the bound port is known.
 */
export async function startMetricsEndpoint(address: string): Promise<MetricsEndpoint> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator) || '127.0.0.1';
  const port = Number(address.slice(separator + 1));
  if (separator < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`metrics address "${address}" must be host:port, e.g. 127.0.0.1:9464`);
  }
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    readers: [exporter],
    resource: resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME ?? 'rota' }),
  });
  const server: Server = createServer((request, response) => {
    if (request.url?.split('?')[0] === '/metrics') {
      exporter.getMetricsRequestHandler(request, response);
    } else {
      response.statusCode = 404;
      response.end('not found: metrics are at /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host.replace(/^\[|\]$/g, ''), () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    meter: provider.getMeter('rota'),
    url: `http://${host}:${bound.port}/metrics`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await provider.shutdown();
    },
  };
}
