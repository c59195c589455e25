/**
 * Load shapes shared by the Rota and BullMQ producer agents, so both systems
 * get exactly the same traffic: a burst (as fast as the system takes it, with a
 * fixed number of calls outstanding) and a paced schedule (steady rates).
 */
import {
  monoMs,
  type BurstArgs,
  type BurstResult,
  type PacedArgs,
  type PacedResult,
} from './protocol.js';

/** One system's way to store jobs. Each call resolves once the system acknowledged. */
export interface Sink {
  /** Producer instances. */
  readonly count: number;
  one(producer: number, tenant: string, stamp: number): Promise<void>;
  many(producer: number, jobs: ReadonlyArray<{ tenant: string; stamp: number }>): Promise<void>;
}

export async function runBurst(sink: Sink, args: BurstArgs): Promise<BurstResult> {
  const result: BurstResult = {
    sent: 0,
    errors: 0,
    firstError: '',
    startedAt: monoMs(),
    finishedAt: 0,
  };
  const run = Math.max(1, args.tenantRun ?? 1);
  const tenantOf = (i: number): string =>
    args.tenants[Math.floor(i / run) % args.tenants.length] ?? 'default';
  const fail = (error: unknown): void => {
    result.errors++;
    if (result.firstError === '') result.firstError = String(error);
  };
  let next = 0;
  const lane = async (producer: number): Promise<void> => {
    if (args.mode === 'single') {
      while (next < args.total) {
        const i = next++;
        try {
          await sink.one(producer, tenantOf(i), args.stamp ? monoMs() : 0);
          result.sent++;
        } catch (error) {
          fail(error);
        }
      }
      return;
    }
    while (next < args.total) {
      const first = next;
      const size = Math.min(args.batchSize, args.total - first);
      next += size;
      const stamp = args.stamp ? monoMs() : 0;
      const jobs = Array.from({ length: size }, (_, k) => ({ tenant: tenantOf(first + k), stamp }));
      try {
        await sink.many(producer, jobs);
        result.sent += size;
      } catch (error) {
        fail(error);
      }
    }
  };
  const lanes: Array<Promise<void>> = [];
  for (let p = 0; p < sink.count; p++) {
    for (let l = 0; l < args.inflight; l++) lanes.push(lane(p));
  }
  await Promise.all(lanes);
  result.finishedAt = monoMs();
  return result;
}

/**
 * Sends each stream's jobs on a fixed schedule (stream s, job j at
 * start + s/(n·rate) + j/rate), one single-job call per job, checking the
 * schedule every millisecond. Each job is stamped when its call is made.
 */
export async function runPaced(sink: Sink, args: PacedArgs): Promise<PacedResult> {
  const result: PacedResult = {
    sent: 0,
    errors: 0,
    firstError: '',
    startedAt: monoMs(),
    finishedAt: 0,
    maxLagMs: 0,
    callMs: [],
  };
  const streams = args.streams.map((stream, s) => ({
    ...stream,
    interval: 1000 / stream.rate,
    next: result.startedAt + (s * 1000) / (stream.rate * args.streams.length),
  }));
  const end = result.startedAt + args.durationMs;
  const pending: Array<Promise<void>> = [];
  let producer = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = monoMs();
      for (const stream of streams) {
        while (stream.next <= now && stream.next < end) {
          result.maxLagMs = Math.max(result.maxLagMs, now - stream.next);
          stream.next += stream.interval;
          const stamp = monoMs();
          const call = sink.one(producer, stream.tenant, stamp).then(
            () => {
              result.sent++;
              result.callMs.push(monoMs() - stamp);
            },
            (error: unknown) => {
              result.errors++;
              if (result.firstError === '') result.firstError = String(error);
            },
          );
          producer = (producer + 1) % sink.count;
          pending.push(call);
        }
      }
      if (now >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
  result.finishedAt = monoMs();
  return result;
}
