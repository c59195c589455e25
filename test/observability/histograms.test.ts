import { describe, expect, it } from 'vitest';
import { DataPointType } from '@opentelemetry/sdk-metrics';

import { LocalHistograms } from '../../src/telemetry/histograms.js';

describe('LocalHistograms', () => {
  it('counts each value in the first bucket whose upper bound it does not pass', async () => {
    const histograms = new LocalHistograms('test');
    const latency = histograms.create('latency', 'how long', 'ms', [1, 10, 100]);
    const labels = { tenant: 'a', queue: 'q' };
    for (const value of [0, 1, 1.5, 10, 99, 100, 101, 5000]) latency.record(value, labels);

    const { resourceMetrics, errors } = await histograms.collect();
    expect(errors).toEqual([]);
    const [metric] = resourceMetrics.scopeMetrics[0]!.metrics;
    expect(metric).toMatchObject({
      descriptor: { name: 'latency', unit: 'ms' },
      dataPointType: DataPointType.HISTOGRAM,
    });
    const [point] = metric!.dataPoints;
    expect(point!.attributes).toEqual(labels);
    expect(point!.value).toEqual({
      buckets: { boundaries: [1, 10, 100], counts: [2, 2, 2, 2] },
      sum: 0 + 1 + 1.5 + 10 + 99 + 100 + 101 + 5000,
      count: 8,
      min: 0,
      max: 5000,
    });
  });

  it('keeps one series per attributes object and reports every histogram created', async () => {
    const histograms = new LocalHistograms('test');
    const wait = histograms.create('wait', '', 'ms', [5]);
    const run = histograms.create('run', '', 'ms', [5]);
    const a = { tenant: 'a' };
    const b = { tenant: 'b' };
    wait.record(1, a);
    wait.record(2, a);
    wait.record(9, b);

    const before = await histograms.collect();
    // A histogram with nothing recorded yet is left out.
    const [waitData, ...others] = before.resourceMetrics.scopeMetrics[0]!.metrics;
    expect(others).toEqual([]);
    expect(waitData!.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
      [a, expect.objectContaining({ count: 2, sum: 3 })],
      [b, expect.objectContaining({ count: 1, sum: 9 })],
    ]);

    // Cumulative: a later collection includes what the earlier one reported.
    run.record(3, a);
    wait.record(4, a);
    const after = await histograms.collect();
    const [waitAfter, runAfter] = after.resourceMetrics.scopeMetrics[0]!.metrics;
    expect(waitAfter!.dataPoints[0]!.value).toMatchObject({ count: 3, sum: 7 });
    expect(runAfter!.dataPoints[0]!.value).toMatchObject({ count: 1, sum: 3 });
  });
});
