import { createHistogram } from 'node:perf_hooks';
import type { Meter, ObservableGauge } from '@opentelemetry/api';

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
} as const satisfies Record<
  string,
  readonly [string, (histogram: ReturnType<typeof createHistogram>) => number]
>;

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
 * exactly one collection.
 *
 * As perf_hooks does on Node 20, a figure is the interval between two samples,
 * the sampling period included: an idle loop shows about 10 ms, a stall of
 * 100 ms about 110 ms. Returns the function that stops the sampling.
 */
export function observeEventLoopDelay(meter: Meter): () => void {
  const histogram = createHistogram();
  let sampledAt = process.hrtime.bigint();
  const timer = setInterval(() => {
    const now = process.hrtime.bigint();
    histogram.record(now - sampledAt);
    sampledAt = now;
  }, EVENT_LOOP_SAMPLE_MS);
  timer.unref();
  const gauges = Object.entries(FIGURES).map(
    ([name, [description, read]]) =>
      [
        meter.createObservableGauge(`nodejs.eventloop.delay.${name}`, { description, unit: 's' }),
        read,
      ] as const,
  );
  meter.addBatchObservableCallback(
    (result) => {
      // Before the first sample there is no figure to give (min and mean are NaN).
      if (histogram.count === 0) return;
      for (const [gauge, read] of gauges) result.observe(gauge, read(histogram) / 1e9);
      histogram.reset();
    },
    gauges.map(([gauge]): ObservableGauge => gauge),
  );
  return () => clearInterval(timer);
}
