/**
 * Starts the OpenTelemetry SDK for traces, configured only by the standard
 * OTEL_* variables (OTEL_SERVICE_NAME, OTEL_TRACES_EXPORTER = otlp | console |
 * none, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, …). Tracing is off
 * unless OTEL_TRACES_EXPORTER names an exporter. Metrics have a provider of
 * their own (see prometheus.ts), which also reads OTEL_METRICS_EXPORTER: the
 * SDK is given no metric reader, or with `otlp` there it would start a second,
 * empty metrics pipeline and take the global meter provider.
 * Returns the function that flushes and stops it.
 *
 * The SDK is imported only when tracing is on: with its exporters it is about
 * 8 MB of the broker's memory and a tenth of a second of its start.
 */
export async function startTracing(
  env: NodeJS.ProcessEnv = process.env,
): Promise<() => Promise<void>> {
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (!exporter || exporter === 'none' || env.OTEL_SDK_DISABLED === 'true')
    return () => Promise.resolve();
  env.OTEL_SERVICE_NAME ??= 'rota';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ metricReaders: [] });
  sdk.start();
  return () => sdk.shutdown();
}
