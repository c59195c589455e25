import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';

import { LocalGauges } from './gauges.js';

/** How often the event loop is sampled. */
export const EVENT_LOOP_SAMPLE_MS = 10;

const FIGURES = {
  min: ['Event loop minimum delay.', (h) => h.min],
  max: ['Event loop maximum delay.', (h) => h.max],
  mean: ['Event loop mean delay.', (h) => h.mean],
  stddev: ['Event loop standard deviation delay.', (h) => h.stddev],
  p50: ['Event loop 50 percentile delay.', (h) => h.percentile(50)],
  p90: ['Event loop 90 percentile delay.', (h) => h.percentile(90)],
  p99: ['Event loop 99 percentile delay.', (h) => h.percentile(99)],
} as const satisfies Record<string, readonly [string, (histogram: RecordableHistogram) => number]>;

/**
 * The event-loop delay figures nodejs.eventloop.delay.{min,max,mean,stddev,
 * p50,p90,p99} (seconds) over the time since the previous collection: the
 * names of OpenTelemetry's runtime-node instrumentation, whose own collector
 * these replace. That collector resets perf_hooks' monitorEventLoopDelay
 * histogram at each collection, and Node's reset also forgets when the loop
 * was last sampled, so the interval in progress at a collection was never
 * recorded: a stall starting within one sampling period after a scrape (the
 * scrape's own work, say) vanished from the figures. Here the time of the last
 * sample outlives the reset, so every interval between two samples reaches
 * exactly one collection of each reader.
 *
 * Each metric reader gets a window of its own (`window()`): with one histogram
 * reset by every collection, a Prometheus scrape and an OTLP export each saw
 * only the time since the other's last collection, and a stall reached
 * whichever collected first.
 *
 * As perf_hooks does on Node 20, a figure is the interval between two samples,
 * the sampling period included: an idle loop shows about 10 ms, a stall of
 * 100 ms about 110 ms.
 */
export class EventLoopDelay {
  private readonly windows = new Set<RecordableHistogram>();
  private sampledAt = 0n;
  private timer: NodeJS.Timeout | undefined;

  /** Starts sampling the loop (once the readers have their windows). */
  start(): void {
    this.sampledAt = process.hrtime.bigint();
    this.timer = setInterval(() => {
      const now = process.hrtime.bigint();
      for (const histogram of this.windows) histogram.record(now - this.sampledAt);
      this.sampledAt = now;
    }, EVENT_LOOP_SAMPLE_MS).unref();
  }

  /** The figures for one metric reader (among its metricProducers), over the time since its own last collection. */
  window(scope: string): MetricProducer {
    const histogram = createHistogram();
    this.windows.add(histogram);
    const gauges = new LocalGauges(scope);
    for (const [name, [description, read]] of Object.entries(FIGURES)) {
      // Before the first sample there is no figure to give (min and mean are NaN).
      gauges.add(`nodejs.eventloop.delay.${name}`, description, 's', () =>
        histogram.count === 0 ? [] : [[read(histogram) / 1e9, {}]],
      );
    }
    return {
      collect: async () => {
        try {
          return await gauges.collect();
        } finally {
          histogram.reset();
        }
      },
    };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
