import { emptyResource } from '@opentelemetry/resources';
import type { CollectionResult, MetricData } from '@opentelemetry/sdk-metrics';

/**
 * What a MetricProducer of ours answers a collection: its metrics under one
 * scope, those with no series left out, as the SDK does (Prometheus would
 * print a bare HELP and TYPE). The readers put their provider's resource on it.
 */
export function produced(
  scope: string,
  metrics: readonly MetricData[],
  errors: unknown[] = [],
): Promise<CollectionResult> {
  return Promise.resolve({
    resourceMetrics: {
      resource: emptyResource(),
      scopeMetrics: [
        { scope: { name: scope }, metrics: metrics.filter((m) => m.dataPoints.length > 0) },
      ],
    },
    errors,
  });
}
