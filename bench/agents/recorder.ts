/**
 * What a worker agent counts: starts and completions, per tenant and per family
 * over time, and (optionally) per-job latencies. Shared by the Rota and BullMQ
 * worker agents so both systems are measured by the same code.
 */
import { familyOf, monoMs, type LatencySamples, type WorkerSnapshot } from './protocol.js';

/** One job's samples, filled as it moves on. */
export interface Sample {
  readonly family: string;
  readonly index: number;
  /** The recorder window it belongs to: a reset invalidates older samples. */
  readonly window: number;
}

export class Recorder {
  started = 0;
  completed = 0;
  errors = 0;
  #firstStartAt = 0;
  #lastStartAt = 0;
  #lastDoneAt = 0;
  #since = monoMs();
  #perTenant = new Map<string, number>();
  #families = new Map<string, { count: number; firstAt: number; lastAt: number }>();
  #buckets: Array<Map<string, number>> = [];
  #latency = new Map<string, LatencySamples>();
  #waiters: Array<{ count: number; resolve: (reached: boolean) => void }> = [];
  #window = 0;

  constructor(
    private readonly bucketMs: number,
    private readonly recordLatency: boolean,
  ) {}

  /** A handler started; returns the sample to complete later (undefined when latencies are off). */
  onStart(tenant: string, enqueuedAt: number): Sample | undefined {
    const now = monoMs();
    this.started++;
    if (this.#firstStartAt === 0) this.#firstStartAt = now;
    this.#lastStartAt = now;
    this.#perTenant.set(tenant, (this.#perTenant.get(tenant) ?? 0) + 1);
    const family = familyOf(tenant);
    const fam = this.#families.get(family);
    if (fam === undefined) this.#families.set(family, { count: 1, firstAt: now, lastAt: now });
    else {
      fam.count++;
      fam.lastAt = now;
    }
    const bucketIndex = Math.max(0, Math.floor((now - this.#since) / this.bucketMs));
    while (this.#buckets.length <= bucketIndex) this.#buckets.push(new Map());
    const bucket = this.#buckets[bucketIndex]!;
    bucket.set(family, (bucket.get(family) ?? 0) + 1);
    if (!this.recordLatency || enqueuedAt <= 0) return undefined;
    let samples = this.#latency.get(family);
    if (samples === undefined) {
      samples = { t: [], start: [], done: [], ack: [] };
      this.#latency.set(family, samples);
    }
    const index = samples.t.length;
    samples.t.push(enqueuedAt);
    samples.start.push(now - enqueuedAt);
    samples.done.push(NaN);
    samples.ack.push(NaN);
    return { family, index, window: this.#window };
  }

  /** A job finished (BullMQ: `completed`; Rota: the handler returned). */
  onDone(at = monoMs()): void {
    this.completed++;
    this.#lastDoneAt = at;
    while (this.#waiters.length > 0 && this.completed >= this.#waiters[0]!.count) {
      this.#waiters.shift()!.resolve(true);
    }
  }

  /** Sets one latency field of a sample: `at` (monoMs) minus its enqueue stamp. */
  mark(sample: Sample, field: 'done' | 'ack', at: number): void {
    if (sample.window !== this.#window) return;
    const samples = this.#latency.get(sample.family);
    if (samples === undefined) return;
    const t = samples.t[sample.index];
    if (t !== undefined) samples[field][sample.index] = at - t;
  }

  waitFor(count: number, timeoutMs: number): Promise<boolean> {
    if (this.completed >= count) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { count, resolve };
      this.#waiters.push(waiter);
      this.#waiters.sort((a, b) => a.count - b.count);
      setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          resolve(false);
        }
      }, timeoutMs).unref();
    });
  }

  snapshot(reset: boolean, withLatency: boolean): WorkerSnapshot {
    const snapshot: WorkerSnapshot = {
      started: this.started,
      completed: this.completed,
      errors: this.errors,
      firstStartAt: this.#firstStartAt,
      lastStartAt: this.#lastStartAt,
      lastDoneAt: this.#lastDoneAt,
      since: this.#since,
      perTenant: Object.fromEntries(this.#perTenant),
      families: Object.fromEntries(this.#families),
      timeline: {
        bucketMs: this.bucketMs,
        buckets: this.#buckets.map((bucket) => Object.fromEntries(bucket)),
      },
      latency: withLatency ? Object.fromEntries(this.#latency) : {},
    };
    if (reset) this.reset();
    return snapshot;
  }

  reset(): void {
    this.#window++;
    this.started = 0;
    this.completed = 0;
    this.errors = 0;
    this.#firstStartAt = 0;
    this.#lastStartAt = 0;
    this.#lastDoneAt = 0;
    this.#since = monoMs();
    this.#perTenant = new Map();
    this.#families = new Map();
    this.#buckets = [];
    this.#latency = new Map();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(false);
  }
}
