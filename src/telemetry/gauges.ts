import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type GaugeMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

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
  private readonly startTime = hrTime();

  constructor(private readonly scope: string) {}

  add(name: string, description: string, unit: string, read: () => GaugeReading): void {
    this.gauges.push({ name, description, unit, read });
  }

  collect(): Promise<CollectionResult> {
    const endTime = hrTime();
    const metrics = this.gauges
      .map((gauge) => this.collectOne(gauge, endTime))
      // As the SDK does: no series, no metric (Prometheus would print bare HELP and TYPE).
      .filter((metric) => metric.dataPoints.length > 0);
    return Promise.resolve({
      resourceMetrics: {
        resource: emptyResource(),
        scopeMetrics: [{ scope: { name: this.scope }, metrics }],
      },
      errors: [],
    });
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
