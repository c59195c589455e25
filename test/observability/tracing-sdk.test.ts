/**
 * The tracing SDK (src/telemetry/sdk.ts) beside the broker's own metrics:
 * OTEL_METRICS_EXPORTER=otlp is read by both, and metrics belong to the
 * broker's provider alone (see prometheus.ts).
 */
import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, describe, expect, it } from 'vitest';

import { startTracing } from '../../src/telemetry/sdk.js';

const saved = { ...process.env };

afterAll(() => {
  process.env = saved;
});

describe('startTracing', () => {
  it('starts no metrics pipeline of its own when OTEL_METRICS_EXPORTER asks for OTLP metrics', async () => {
    Object.assign(process.env, {
      OTEL_TRACES_EXPORTER: 'console',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:9/v1/metrics',
    });
    const stop = await startTracing();
    try {
      // A second provider would collect on a timer of its own and take the
      // global slot that instrumentations read.
      expect(metrics.getMeterProvider()).not.toBeInstanceOf(MeterProvider);
    } finally {
      await stop();
    }
  });
});
