import { describe, expect, it } from 'vitest';
import { DataPointType } from '@opentelemetry/sdk-metrics';

import { LocalGauges } from '../../src/telemetry/gauges.js';

describe('LocalGauges', () => {
  it('exports exactly the series read at each collection', async () => {
    const gauges = new LocalGauges('test');
    let reading: Array<readonly [number, { queue: string }]> = [[3, { queue: 'a' }]];
    gauges.add('depth', 'jobs', '', () => reading);

    const first = (await gauges.collect()).resourceMetrics.scopeMetrics[0]!.metrics;
    expect(first).toMatchObject([
      { descriptor: { name: 'depth' }, dataPointType: DataPointType.GAUGE },
    ]);
    expect(first[0]!.dataPoints.map((p) => [p.attributes, p.value])).toEqual([[{ queue: 'a' }, 3]]);

    // A label set no longer read is gone, not exported with its last value.
    reading = [[1, { queue: 'b' }]];
    const second = (await gauges.collect()).resourceMetrics.scopeMetrics[0]!.metrics;
    expect(second[0]!.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
      [{ queue: 'b' }, 1],
    ]);

    // No series at all: no metric.
    reading = [];
    expect((await gauges.collect()).resourceMetrics.scopeMetrics[0]!.metrics).toEqual([]);
  });

  it('reports a gauge whose read throws and still collects the others', async () => {
    const gauges = new LocalGauges('test');
    const failure = new Error('depths unreadable');
    gauges.add('broken', '', '', () => {
      throw failure;
    });
    gauges.add('fine', '', '', () => [[7, { queue: 'q' }]]);

    const { resourceMetrics, errors } = await gauges.collect();
    expect(errors).toEqual([failure]);
    expect(resourceMetrics.scopeMetrics[0]!.metrics.map((m) => m.descriptor.name)).toEqual([
      'fine',
    ]);
  });

  it('waits for its preparations before reading, at every collection', async () => {
    const gauges = new LocalGauges('test');
    let depth = 0;
    let prepared = 0;
    gauges.beforeCollect(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      prepared += 1;
      depth = prepared * 10;
    });
    gauges.add('depth', '', '', () => [[depth, { queue: 'q' }]]);

    for (const expected of [10, 20]) {
      const { resourceMetrics } = await gauges.collect();
      expect(resourceMetrics.scopeMetrics[0]!.metrics[0]!.dataPoints.map((p) => p.value)).toEqual([
        expected,
      ]);
    }
  });
});
