import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { MeterProvider, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';

import { sha256 } from '../token-digest.js';
import { EVENT_LOOP_SAMPLE_MS, EventLoopDelay } from './event-loop-delay.js';
import { LocalGauges } from './gauges.js';
import { LocalHistograms } from './histograms.js';
import type { MetricsSink } from './metrics.js';
import { otlpMetricReader, otlpMetricsWanted } from './otlp-metrics.js';

export interface MetricsEndpoint extends MetricsSink {
  /** http://host:port/metrics actually bound; undefined without a Prometheus endpoint. */
  readonly url: string | undefined;
  /** Whether metrics are also pushed over OTLP (OTEL_METRICS_EXPORTER=otlp). */
  readonly otlp: boolean;
  close(): Promise<void>;
}

/**
 * The broker's meter, with a meter provider of its own (not the global one, so
 * several brokers in one process stay apart), read by a Prometheus scrape
 * endpoint at http://<address>/metrics and/or pushed over OTLP. We own the
 * HTTP server, so port 0 works and the bound port is known, and a scrape can
 * be made to send a bearer token (`scrapeDigest`, its SHA-256).
 *
 * The same provider reports the Node.js runtime (OpenTelemetry's runtime-node
 * instrumentation): event-loop utilization, GC pauses, heap spaces, and the
 * event-loop delay percentiles (ours, see event-loop-delay.ts). The broker is
 * one event loop, so its delay is the first thing to look at when dispatch
 * latency grows. The delay figures cover the time since the reader's
 * previous collection.
 */
export async function startMetrics(
  address: string | undefined,
  scrapeDigest: Buffer | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<MetricsEndpoint> {
  const histograms = new LocalHistograms('rota');
  const gauges = new LocalGauges('rota');
  const { runtime, ownDelay } = runtimeInstrumentation();
  const delay = ownDelay ? new EventLoopDelay() : undefined;
  /** Each reader's producers: the delay figures are a window per reader (see EventLoopDelay). */
  const metricProducers = (): MetricProducer[] => [
    histograms,
    gauges,
    ...(delay ? [delay.window('rota')] : []),
  ];
  const prometheus =
    address === undefined
      ? undefined
      : new PrometheusExporter({
          preventServerStart: true,
          withoutScopeInfo: true,
          metricProducers: metricProducers(),
        });
  const otlp = otlpMetricsWanted(env) ? otlpMetricReader(env, metricProducers()) : undefined;
  const provider = new MeterProvider({
    readers: [prometheus, otlp].filter((reader) => reader !== undefined),
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? 'rota' }),
  });
  runtime.setMeterProvider(provider);
  runtime.enable();
  const meter = provider.getMeter('rota');
  delay?.start();
  let server: Server | undefined;
  try {
    if (address !== undefined && prometheus !== undefined) {
      server = await serveScrapes(address, prometheus, scrapeDigest);
    }
  } catch (error) {
    delay?.stop();
    runtime.disable();
    await provider.shutdown();
    throw error;
  }
  const bound = server?.address() as AddressInfo | undefined;
  return {
    meter,
    histograms,
    gauges,
    url: bound && address ? `http://${hostOf(address)}:${bound.port}/metrics` : undefined,
    otlp: otlp !== undefined,
    async close() {
      delay?.stop();
      runtime.disable();
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      await provider.shutdown();
    },
  };
}

/**
 * runtime-node without its event-loop delay collector, which event-loop-delay.ts
 * replaces (see there why): `ownDelay`. The instrumentation has no switch per
 * collector, so that one is taken out of its (private) list before it
 * registers its gauges or starts sampling: the loop sampled twice would also
 * wake an idle broker twice as often, and the two would report under the same
 * names. Should a release of runtime-node move that list, its own collector
 * stays (a stall just after a collection may then go unseen, as before) and a
 * warning says so: a patch release must not stop a broker from starting.
 */
function runtimeInstrumentation(): { runtime: RuntimeNodeInstrumentation; ownDelay: boolean } {
  const runtime = new RuntimeNodeInstrumentation({
    enabled: false,
    monitoringPrecision: EVENT_LOOP_SAMPLE_MS,
  });
  const collectors = (runtime as unknown as { _collectors?: unknown })._collectors;
  const at = Array.isArray(collectors)
    ? collectors.findIndex(
        (c: unknown) =>
          typeof c === 'object' && c !== null && c.constructor.name === 'EventLoopDelayCollector',
      )
    : -1;
  if (at < 0) {
    process.emitWarning(
      'no EventLoopDelayCollector found in @opentelemetry/instrumentation-runtime-node: its own event-loop delay figures are reported (see src/telemetry/event-loop-delay.ts)',
    );
    return { runtime, ownDelay: false };
  }
  (collectors as unknown[]).splice(at, 1);
  return { runtime, ownDelay: true };
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':')) || '127.0.0.1';
}

/** Whether the request carries `authorization: Bearer <token>` of that digest (compared in constant time). */
function bearerMatches(request: IncomingMessage, digest: Buffer): boolean {
  const match = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
  if (!match) return false;
  return timingSafeEqual(sha256(match[1]!), digest);
}

async function serveScrapes(
  address: string,
  exporter: PrometheusExporter,
  scrapeDigest: Buffer | undefined,
): Promise<Server> {
  const separator = address.lastIndexOf(':');
  const port = Number(address.slice(separator + 1));
  if (separator < 0 || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`metrics address "${address}" must be host:port, e.g. 127.0.0.1:9464`);
  }
  const server: Server = createServer((request, response) => {
    if (scrapeDigest !== undefined && !bearerMatches(request, scrapeDigest)) {
      response.statusCode = 401;
      response.setHeader('WWW-Authenticate', 'Bearer realm="rota metrics"');
      response.end('unauthorized: send Authorization: Bearer <the token of ROTA_METRICS_TOKEN>\n');
    } else if (request.url?.split('?')[0] === '/metrics') {
      exporter.getMetricsRequestHandler(request, response);
    } else {
      response.statusCode = 404;
      response.end('not found: metrics are at /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostOf(address).replace(/^\[|\]$/g, ''), () => resolve());
  });
  return server;
}
