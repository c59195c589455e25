/**
 * Metrics pushed over OTLP (OTEL_METRICS_EXPORTER=otlp), beside the Prometheus
 * endpoint: a local HTTP server stands in for the collector.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventually, startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { Producer } from '../../clients/producer.js';
import { Worker } from '../../clients/worker.js';

const exports: Array<{ path: string; body: string }> = [];
let collector: Server;
let redis: TestRedis;
let broker: TestBroker;
const saved = { ...process.env };

beforeAll(async () => {
  collector = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      exports.push({ path: request.url ?? '', body });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const { port } = collector.address() as AddressInfo;
  Object.assign(process.env, {
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${port}/v1/metrics`,
    OTEL_METRIC_EXPORT_INTERVAL: '200',
  });
  redis = await startTestRedis();
  broker = await startTestBroker({ redisUrl: redis.url, metricsAddress: undefined });
});

afterAll(async () => {
  await broker?.shutdown();
  await redis?.dispose();
  await new Promise<void>((resolve) => collector.close(() => resolve()));
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
        exports.find(
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
