/**
 * Metrics pushed over OTLP (OTEL_METRICS_EXPORTER=otlp), beside the Prometheus
 * endpoint: a local HTTP server stands in for the collector.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startOtlpCollector, type OtlpCollector } from '../helpers/otlp-collector.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { startMetrics } from '../../src/telemetry/prometheus.js';
import { Producer } from '../../clients/producer.js';
import { Worker } from '../../clients/worker.js';

let collector: OtlpCollector;
let redis: TestRedis;
let broker: TestBroker;
const saved = { ...process.env };

beforeAll(async () => {
  collector = await startOtlpCollector();
  Object.assign(process.env, {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: collector.metricsEndpoint,
    OTEL_METRIC_EXPORT_INTERVAL: '200',
  });
  redis = await startTestRedis();
  broker = await startTestBroker({ redisUrl: redis.url, metricsAddress: undefined });
});

afterAll(async () => {
  await broker?.shutdown();
  await redis?.dispose();
  await collector?.close();
  process.env = saved;
});

describe('OTLP metrics', () => {
  it('pushes the job counters, histograms and gauges to the configured collector, with no Prometheus endpoint', async () => {
    expect(broker.metricsUrl).toBeUndefined();
    const producer = new Producer({ address: broker.address, timeoutMs: 5000 });
    const worker = new Worker({
      address: broker.address,
      queues: ['otlp-q'],
      handler: () => undefined,
      shutdownSignals: [],
    });
    try {
      await producer.enqueue({ tenant: 'otlp-tenant', queue: 'otlp-q' });
      await worker.start();
      const sent = await eventually(() =>
        collector.exports.find(
          (e) =>
            e.path === '/v1/metrics' &&
            e.body.includes('"rota.jobs.enqueued"') &&
            e.body.includes('"rota.job.run_time"') &&
            e.body.includes('"rota.prefetch.jobs"') &&
            e.body.includes('"otlp-tenant"'),
        ),
      );
      const body = JSON.parse(sent.body) as OtlpBody;
      const metrics = body.resourceMetrics.flatMap((r) => r.scopeMetrics).flatMap((s) => s.metrics);
      const runTime = metrics.find((m) => m.name === 'rota.job.run_time');
      expect(runTime?.unit).toBe('ms');
      const point = runTime!.histogram!.dataPoints[0]!;
      expect(Number(point.count)).toBe(1);
      expect(point.bucketCounts.map(Number).reduce((a, b) => a + b)).toBe(1);
      expect(point.explicitBounds).toContain(1000);
      expect(point.attributes).toContainEqual({
        key: 'tenant',
        value: { stringValue: 'otlp-tenant' },
      });
      // The gauges of queues that come and go (LocalGauges) ride on the same push.
      const readAhead = metrics.find((m) => m.name === 'rota.prefetch.jobs');
      expect(readAhead?.gauge?.dataPoints).toContainEqual(
        expect.objectContaining({
          attributes: [{ key: 'queue', value: { stringValue: 'otlp-q' } }],
        }),
      );
    } finally {
      await worker.close();
      await producer.close();
    }
  });

  it('refuses an OTLP protocol or export interval it cannot use, naming the variable to fix', async () => {
    const otlp = { OTEL_METRICS_EXPORTER: 'otlp' };
    await expect(
      startMetrics(undefined, undefined, { ...otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'smtp' }),
    ).rejects.toThrow(
      'OTLP metrics protocol "smtp" is not supported; set OTEL_EXPORTER_OTLP_METRICS_PROTOCOL to one of http/protobuf, http/json, grpc',
    );
    await expect(
      startMetrics(undefined, undefined, { ...otlp, OTEL_METRIC_EXPORT_INTERVAL: '1.5s' }),
    ).rejects.toThrow('OTEL_METRIC_EXPORT_INTERVAL must be a whole number of ms > 0, got "1.5s"');
  });
});

/** The parts of an OTLP/JSON metrics export the test reads. */
interface OtlpBody {
  resourceMetrics: Array<{
    scopeMetrics: Array<{
      metrics: Array<{
        name: string;
        unit?: string;
        histogram?: {
          dataPoints: Array<{
            count: number | string;
            bucketCounts: Array<number | string>;
            explicitBounds: number[];
            attributes: Array<{ key: string; value: unknown }>;
          }>;
        };
        gauge?: { dataPoints: Array<{ attributes: Array<{ key: string; value: unknown }> }> };
      }>;
    }>;
  }>;
}
