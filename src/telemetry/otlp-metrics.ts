/**
 * Metrics over OTLP, next to (or instead of) the Prometheus endpoint, configured
 * only by the standard variables: OTEL_METRICS_EXPORTER lists `otlp`; the
 * protocol comes from OTEL_EXPORTER_OTLP_METRICS_PROTOCOL or
 * OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by default, http/json, grpc); the
 * endpoint, headers and timeout from the usual OTEL_EXPORTER_OTLP_* variables,
 * read by the exporter itself; the interval from OTEL_METRIC_EXPORT_INTERVAL
 * (ms, default 60000).
 */
import { OTLPMetricExporter as GrpcExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import {
  PeriodicExportingMetricReader,
  type MetricProducer,
  type MetricReader,
} from '@opentelemetry/sdk-metrics';

const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
type Protocol = (typeof PROTOCOLS)[number];

export function otlpMetricsWanted(env: NodeJS.ProcessEnv): boolean {
  return (env.OTEL_METRICS_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .includes('otlp');
}

/**
 * The reader that pushes metrics over OTLP (the provider's, and those of
 * `metricProducers`); for when otlpMetricsWanted.
 */
export function otlpMetricReader(
  env: NodeJS.ProcessEnv,
  metricProducers: MetricProducer[],
): MetricReader {
  const protocol =
    env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new TypeError(
      `OTLP metrics protocol "${protocol}" is not supported; set OTEL_EXPORTER_OTLP_METRICS_PROTOCOL to one of ${PROTOCOLS.join(', ')}`,
    );
  }
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000);
  if (!(Number.isInteger(interval) && interval > 0)) {
    throw new TypeError(
      `OTEL_METRIC_EXPORT_INTERVAL must be a whole number of ms > 0, got "${env.OTEL_METRIC_EXPORT_INTERVAL}"`,
    );
  }
  const exporters: Record<Protocol, () => ProtobufExporter | JsonExporter | GrpcExporter> = {
    'http/protobuf': () => new ProtobufExporter(),
    'http/json': () => new JsonExporter(),
    grpc: () => new GrpcExporter(),
  };
  return new PeriodicExportingMetricReader({
    exporter: exporters[protocol as Protocol](),
    exportIntervalMillis: interval,
    exportTimeoutMillis: Math.min(30_000, interval),
    metricProducers,
  });
}
