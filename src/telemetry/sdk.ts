import { NodeSDK } from '@opentelemetry/sdk-node';

/**
 * Starts the OpenTelemetry SDK for traces, configured only by the standard
 * OTEL_* variables (OTEL_SERVICE_NAME, OTEL_TRACES_EXPORTER = otlp | console |
 * none, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, …). Tracing is off
 * unless OTEL_TRACES_EXPORTER names an exporter. Metrics have their own
 * Prometheus endpoint (see metrics.ts), so the SDK's are left off.
 * Returns the function that flushes and stops it.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): () => Promise<void> {
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (!exporter || exporter === 'none' || env.OTEL_SDK_DISABLED === 'true')
    return () => Promise.resolve();
  env.OTEL_SERVICE_NAME ??= 'rota';
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const sdk = new NodeSDK();
  sdk.start();
  return () => sdk.shutdown();
}
