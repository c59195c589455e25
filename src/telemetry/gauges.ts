import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type GaugeMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

import { produced } from './produced.js';

/** The series of a gauge now: a value per label set. */
export type GaugeReading = Iterable<readonly [number, Attributes]>;

interface Gauge {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly read: () => GaugeReading;
}

/**
 * Gauges whose label sets come and go (a queue's read-ahead, a tenant×queue's
 * depth and oldest waiting job), read at collection time and handed to the
 * metric readers as a MetricProducer: a collection exports exactly the series
 * `read` yields then.
 *
 * Why not the SDK's observable gauges: they keep exporting a label set's last
 * value after a callback stops observing it (opentelemetry-js #4096, open in
 * sdk-metrics 2.x), so the oldest waiting job's age stayed at its last
 * reading once the queue drained (an alert on it never cleared), and every
 * queue or tenant ever seen kept its series until the broker restarted.
 */
export class LocalGauges implements MetricProducer {
  private readonly gauges: Gauge[] = [];
  private readonly preparations: Array<() => Promise<void>> = [];
  private readonly startTime = hrTime();

  constructor(private readonly scope: string) {}

  add(name: string, description: string, unit: string, read: () => GaugeReading): void {
    this.gauges.push({ name, description, unit, read });
  }

  /**
   * Work each collection waits for before it reads the gauges: a read of
   * what they show that is too costly to keep up to date between collections.
   * It must not reject (report its errors itself) and should bound its wait.
   */
  beforeCollect(prepare: () => Promise<void>): void {
    this.preparations.push(prepare);
  }

  /**
   * A gauge whose read throws is left out of this collection and its error
   * reported (the readers log it), as the SDK does for a failing callback:
   * the other series are still scraped.
   */
  async collect(): Promise<CollectionResult> {
    await Promise.all(this.preparations.map((prepare) => prepare()));
    const endTime = hrTime();
    const metrics: GaugeMetricData[] = [];
    const errors: unknown[] = [];
    for (const gauge of this.gauges) {
      try {
        metrics.push(this.collectOne(gauge, endTime));
      } catch (error) {
        errors.push(error);
      }
    }
    return produced(this.scope, metrics, errors);
  }

  private collectOne({ name, description, unit, read }: Gauge, endTime: HrTime): GaugeMetricData {
    const dataPoints = [...read()].map(([value, attributes]) => ({
      attributes,
      startTime: this.startTime,
      endTime,
      value,
    }));
    return {
      descriptor: { name, description, unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints,
    };
  }
}
