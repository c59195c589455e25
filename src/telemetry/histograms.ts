import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

import { produced } from './produced.js';

/**
 * Histograms kept by the broker and handed to the metric readers as a
 * MetricProducer (the SDK's own extension point): recording a value is a
 * bucket search and a few additions on the series the caller names.
 *
 * Why not the SDK's Histogram: its record() hashes the attribute set on every
 * call (sorted keys, JSON), and with two histograms per job that was the
 * largest source of garbage in the broker at full load (17% of the bytes
 * allocated) and 2.5–3 µs of CPU per job. The output is the same: cumulative
 * explicit-bucket histograms with sum, count, min and max.
 */
export class LocalHistogram {
  private readonly series = new Map<Attributes, Series>();

  constructor(
    readonly name: string,
    readonly description: string,
    readonly unit: string,
    private readonly boundaries: readonly number[],
  ) {}

  /**
   * Adds a value to the series of `attributes`, found by identity (no hashing):
   * the caller passes one object per label set, the same one every time.
   */
  record(value: number, attributes: Attributes): void {
    let series = this.series.get(attributes);
    if (series === undefined) {
      series = {
        attributes,
        startTime: hrTime(),
        counts: new Array<number>(this.boundaries.length + 1).fill(0),
        sum: 0,
        count: 0,
        min: Infinity,
        max: -Infinity,
      };
      this.series.set(attributes, series);
    }
    series.counts[bucketOf(this.boundaries, value)]!++;
    series.sum += value;
    series.count++;
    if (value < series.min) series.min = value;
    if (value > series.max) series.max = value;
  }

  /** The histogram as metric data, every series from its first value until `endTime`. */
  collect(endTime: HrTime): HistogramMetricData {
    const dataPoints: Array<DataPoint<Histogram>> = [];
    for (const series of this.series.values()) {
      dataPoints.push({
        attributes: series.attributes,
        startTime: series.startTime,
        endTime,
        value: {
          buckets: { boundaries: [...this.boundaries], counts: [...series.counts] },
          sum: series.sum,
          count: series.count,
          min: series.min,
          max: series.max,
        },
      });
    }
    return {
      descriptor: {
        name: this.name,
        description: this.description,
        unit: this.unit,
        valueType: ValueType.DOUBLE,
      },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

interface Series {
  readonly attributes: Attributes;
  readonly startTime: HrTime;
  readonly counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

/** Index of the bucket of `value`: the first boundary ≥ value (upper bounds inclusive, as OpenTelemetry's). */
function bucketOf(boundaries: readonly number[], value: number): number {
  let low = 0;
  let high = boundaries.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (value <= boundaries[mid]!) high = mid;
    else low = mid + 1;
  }
  return low;
}

/**
 * The broker's LocalHistograms, read by the metric readers it is given to
 * (`metricProducers`). The readers put their provider's resource on the data.
 */
export class LocalHistograms implements MetricProducer {
  private readonly histograms: LocalHistogram[] = [];

  constructor(private readonly scope: string) {}

  create(
    name: string,
    description: string,
    unit: string,
    boundaries: readonly number[],
  ): LocalHistogram {
    const histogram = new LocalHistogram(name, description, unit, boundaries);
    this.histograms.push(histogram);
    return histogram;
  }

  collect(): Promise<CollectionResult> {
    const endTime = hrTime();
    return produced(
      this.scope,
      this.histograms.map((histogram) => histogram.collect(endTime)),
    );
  }
}
