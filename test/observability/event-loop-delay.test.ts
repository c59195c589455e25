/**
 * The event-loop delay figures of a metrics endpoint, without a broker: every
 * interval between two samples of the loop must reach one scrape, the one in
 * progress at a scrape included.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';

import { startMetrics } from '../../src/telemetry/prometheus.js';
import { scrape } from '../helpers/metrics.js';
import { startOtlpCollector } from '../helpers/otlp-collector.js';

/** Blocks the event loop for `ms`, as a long synchronous task would. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

describe('event-loop delay', () => {
  it('a stall in the scrape itself shows in the next scrape', async () => {
    const metrics = await startMetrics('127.0.0.1:0', undefined, {});
    try {
      // A slow observable callback: the collection stalls the loop right after
      // the delay figures were read, before the loop is sampled again.
      let stallMs = 0;
      metrics.meter.createObservableGauge('test.slow_callback').addCallback((result) => {
        stall(stallMs);
        stallMs = 0;
        result.observe(1);
      });
      await sleep(100); // samples for a first window
      stallMs = 150;
      await scrape(metrics.url!);
      await sleep(50); // the loop sampled again since
      const series = await scrape(metrics.url!);
      expect(series.get('nodejs_eventloop_delay_max')).toBeGreaterThanOrEqual(0.1);
    } finally {
      await metrics.close();
    }
  });

  it('a stall reaches the Prometheus scrape also when an OTLP export collected since', async () => {
    // One window for both readers was reset by whichever collected first:
    // the export took the stall, and the scrape after it never saw it.
    const collector = await startOtlpCollector();
    // The OTLP exporter reads its endpoint from process.env itself.
    const saved = { ...process.env };
    Object.assign(process.env, {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: collector.metricsEndpoint,
      OTEL_METRIC_EXPORT_INTERVAL: '100',
    });
    const metrics = await startMetrics('127.0.0.1:0', undefined).finally(() => {
      process.env = saved;
    });
    try {
      await scrape(metrics.url!); // the scrape's window starts here
      await sleep(50);
      stall(150);
      const after = collector.exports.length;
      while (collector.exports.length < after + 2) await sleep(20); // an export collected after the stall
      const series = await scrape(metrics.url!);
      expect(series.get('nodejs_eventloop_delay_max')).toBeGreaterThanOrEqual(0.1);
      await sleep(50);
      // The next scrape's window starts after the stall.
      expect((await scrape(metrics.url!)).get('nodejs_eventloop_delay_max')).toBeLessThan(0.15);
    } finally {
      await metrics.close();
      await collector.close();
    }
  });
});
