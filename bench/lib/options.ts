/**
 * Command line of `bench/run.ts`: scenario names, the run mode, and the knobs of
 * every scenario. One table drives parsing, defaults (full and --quick) and --help.
 */

import { BROKER_MMAP_THRESHOLD } from './rota-broker.js';

export type Aof = 'off' | 'everysec' | 'always';

export interface Knobs {
  /** Producer instances (Rota Producer / BullMQ Queue objects) in the producer process. */
  producers: number;
  /** Rota Worker instances in the worker process. */
  workers: number;
  /** Leases per Rota Worker instance. */
  concurrency: number;
  /** Concurrency of the one BullMQ Worker. */
  bullConcurrency: number;
  /** How long the Rota broker keeps completed jobs (0 = not at all, as BullMQ's removeOnComplete). */
  completedRetentionMs: number;
  /** The Rota broker's glibc MALLOC_MMAP_THRESHOLD_ in bytes (0 = glibc's own sliding threshold). */
  mmapThreshold: number;
  /** enqueue()/add() calls outstanding per producer instance. */
  inflight: number;
  /** enqueueBatch()/addBulk() calls outstanding per producer instance. */
  batchInflight: number;
  batchSize: number;
  /** Jobs per throughput run. */
  jobs: number;
  /** Jobs of the unmeasured burst that warms a system up before throughput and scale measure it. */
  warmupJobs: number;
  rates: number[];
  latencySeconds: number;
  warmupSeconds: number;
  /** Round trips timed per transport (latency), 0 = none. */
  hopCalls: number;
  /** Backlog per tenant of the fairness scenario. */
  fairBacklog: number;
  flood: number;
  quietTenants: number;
  quietRate: number;
  quietSeconds: number;
  limitRate: number;
  limitSeconds: number;
  scaleTenants: number[];
  scaleJobs: number;
  scaleRounds: number;
  rssJobs: number;
  rssTenants: number;
}

interface KnobSpec {
  key: keyof Knobs;
  flag: string;
  full: number | number[];
  quick: number | number[];
  help: string;
  /** 0 is a value (turns the step off), not a mistake. */
  zeroTurnsOff?: true;
}

export const KNOBS: readonly KnobSpec[] = [
  {
    key: 'producers',
    flag: '--producers',
    full: 2,
    quick: 2,
    help: 'producer instances (one process)',
  },
  {
    key: 'workers',
    flag: '--workers',
    full: 2,
    quick: 2,
    help: 'Rota Worker instances (one process)',
  },
  {
    key: 'concurrency',
    flag: '--concurrency',
    full: 100,
    quick: 100,
    help: 'leases per Rota Worker',
  },
  {
    key: 'bullConcurrency',
    flag: '--bull-concurrency',
    full: 50,
    quick: 50,
    help: 'BullMQ Worker concurrency',
  },
  {
    key: 'completedRetentionMs',
    flag: '--completed-retention-ms',
    full: 0,
    quick: 0,
    help: 'the Rota broker’s ROTA_COMPLETED_RETENTION_MS; 0 deletes a job as it completes, as the BullMQ side’s removeOnComplete (a --rev before 0 was allowed needs a value above 0)',
    zeroTurnsOff: true,
  },
  {
    key: 'mmapThreshold',
    flag: '--mmap-threshold',
    full: BROKER_MMAP_THRESHOLD,
    quick: BROKER_MMAP_THRESHOLD,
    help: 'the Rota broker’s glibc MALLOC_MMAP_THRESHOLD_ (bytes), as `npm start` sets it (README, Development); 0 leaves glibc’s own sliding threshold',
    zeroTurnsOff: true,
  },
  {
    key: 'inflight',
    flag: '--inflight',
    full: 256,
    quick: 256,
    help: 'enqueue()/add() calls outstanding per producer',
  },
  {
    key: 'batchInflight',
    flag: '--batch-inflight',
    full: 2,
    quick: 2,
    help: 'enqueueBatch()/addBulk() calls outstanding per producer',
  },
  {
    key: 'batchSize',
    flag: '--batch-size',
    full: 1000,
    quick: 1000,
    help: 'jobs per enqueueBatch()/addBulk()',
  },
  { key: 'jobs', flag: '--jobs', full: 100_000, quick: 3_000, help: 'jobs per throughput run' },
  {
    key: 'warmupJobs',
    flag: '--warmup-jobs',
    full: 20_000,
    quick: 1_000,
    help: 'throughput, scale: an unmeasured burst per system first (0 = none)',
    zeroTurnsOff: true,
  },
  {
    key: 'rates',
    flag: '--rates',
    full: [1000, 2000, 5000],
    quick: [2000],
    help: 'latency: steady enqueue rates (jobs/s, comma-separated)',
  },
  {
    key: 'latencySeconds',
    flag: '--latency-seconds',
    full: 10,
    quick: 1,
    help: 'latency: measured seconds per rate (after the warm-up)',
  },
  {
    key: 'warmupSeconds',
    flag: '--warmup-seconds',
    full: 3,
    quick: 0.5,
    help: 'latency: warm-up seconds left out (each phase starts at a new rate; a broker takes about 2 s to settle)',
  },
  {
    key: 'hopCalls',
    flag: '--hop-calls',
    full: 1000,
    quick: 100,
    help: 'latency: round trips timed 1 ms apart of a bare grpc-js call and of a Redis PING (0 = none)',
    zeroTurnsOff: true,
  },
  {
    key: 'fairBacklog',
    flag: '--fair-backlog',
    full: 50_000,
    quick: 3_000,
    help: 'fairness: jobs queued per tenant',
  },
  {
    key: 'flood',
    flag: '--flood',
    full: 100_000,
    quick: 10_000,
    help: 'noisy neighbour: jobs of the flooding tenant',
  },
  {
    key: 'quietTenants',
    flag: '--quiet-tenants',
    full: 10,
    quick: 10,
    help: 'noisy neighbour: quiet tenants',
  },
  {
    key: 'quietRate',
    flag: '--quiet-rate',
    full: 10,
    quick: 10,
    help: 'noisy neighbour: jobs/s of each quiet tenant',
  },
  {
    key: 'quietSeconds',
    flag: '--quiet-seconds',
    full: 5,
    quick: 2,
    help: 'noisy neighbour: seconds the quiet tenants send',
  },
  {
    key: 'limitRate',
    flag: '--limit-rate',
    full: 50,
    quick: 50,
    help: 'rate limit: the tenant’s rate (jobs/s)',
  },
  {
    key: 'limitSeconds',
    flag: '--limit-seconds',
    full: 6,
    quick: 1,
    help: 'rate limit: measured seconds',
  },
  {
    key: 'scaleTenants',
    flag: '--scale-tenants',
    full: [1, 100, 10_000],
    quick: [1, 1000],
    help: 'scale: active tenant counts (comma-separated)',
  },
  {
    key: 'scaleJobs',
    flag: '--scale-jobs',
    full: 50_000,
    quick: 3_000,
    help: 'scale: jobs per tenant count',
  },
  {
    key: 'scaleRounds',
    flag: '--scale-rounds',
    full: 2,
    quick: 1,
    help: 'scale: rounds over the tenant counts, every other one in reverse order; figures are the rounds’ means',
  },
  {
    key: 'rssJobs',
    flag: '--rss-jobs',
    full: 1_000_000,
    quick: 10_000,
    help: 'scale: jobs queued for the broker RSS reading',
  },
  {
    key: 'rssTenants',
    flag: '--rss-tenants',
    full: 1000,
    quick: 100,
    help: 'scale: tenants of those queued jobs',
  },
];

export const SCENARIOS: ReadonlyArray<{ name: string; help: string }> = [
  {
    name: 'throughput',
    help: 'enqueue, dispatch and end-to-end jobs/s, single enqueue() and batches; CPU of broker and Redis. Rota vs BullMQ',
  },
  {
    name: 'latency',
    help: 'enqueue→start and enqueue→completed p50/p95/p99/max at steady rates. Rota vs BullMQ',
  },
  {
    name: 'fairness',
    help: 'three saturated tenants of weight 1:2:4: shares and Jain’s index (Rota); SVG chart',
  },
  {
    name: 'noisy',
    help: 'a 100k flood queued first, then quiet tenants: their wait, and the flood’s drain rate. Rota vs BullMQ FIFO; SVG chart',
  },
  {
    name: 'ratelimit',
    help: 'a tenant limited to 50 jobs/s beside an unlimited one: achieved rates (Rota)',
  },
  {
    name: 'scale',
    help: 'throughput with 1 / 100 / 10,000 active tenants; broker RSS with 1M jobs queued (Rota)',
  },
];

export interface RunOptions {
  scenarios: string[];
  quick: boolean;
  aof: Aof;
  jsonDir: string;
  /** Run the broker under node --cpu-prof and summarise its profile per scenario. */
  cpuProf: boolean;
  /** Trace every job (broker and clients), exported over OTLP to a local sink. */
  tracing: boolean;
  /** Whole-run deadline. */
  timeoutMinutes: number;
  /** Before each scenario, wait up to this many seconds for other load on the machine to fall below 15%. */
  waitQuietSeconds: number;
  /** Run the broker compiled by tsc on plain node, instead of under tsx. */
  compiled: boolean;
  /** Run the broker without --single-threaded-gc (V8's GC helper threads on, node's default). */
  parallelGc: boolean;
  /** Benchmark this commit (a `git archive` export) instead of the working tree. */
  rev: string | undefined;
  knobs: Knobs;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function parseKnob(spec: KnobSpec, raw: string): number | number[] {
  const values = raw.split(',').map((part) => Number(part.replace(/_/g, '')));
  const least = spec.zeroTurnsOff ? 0 : Number.MIN_VALUE;
  if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v < least)) {
    const wanted = spec.zeroTurnsOff ? 'a number ≥ 0' : 'positive number(s)';
    throw new UsageError(`${spec.flag} needs ${wanted}, got "${raw}"`);
  }
  if (Array.isArray(spec.full)) return values;
  if (values.length !== 1) throw new UsageError(`${spec.flag} takes one number, got "${raw}"`);
  return values[0]!;
}

/** Parses argv; `undefined` when --help was asked (the text is printed by the caller). */
export function parseArgs(argv: readonly string[]): RunOptions | undefined {
  if (argv.includes('--help') || argv.includes('-h')) return undefined;
  const quick = argv.includes('--quick');
  const knobs = Object.fromEntries(
    KNOBS.map((k) => [k.key, quick ? k.quick : k.full]),
  ) as unknown as Knobs;
  const options: RunOptions = {
    scenarios: [],
    quick,
    aof: 'off',
    jsonDir: 'bench/results',
    cpuProf: false,
    tracing: false,
    timeoutMinutes: quick ? 3 : 20,
    rev: undefined,
    waitQuietSeconds: 0,
    compiled: false,
    parallelGc: false,
    knobs,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--')
      ? (arg.split(/=(.*)/s, 2) as [string, string | undefined])
      : [arg, undefined];
    const value = (): string => {
      const raw = inline ?? argv[++i];
      if (raw === undefined) throw new UsageError(`${flag} needs a value`);
      return raw;
    };
    if (flag === '--quick') continue;
    if (flag === '--compiled') {
      options.compiled = true;
      continue;
    }
    if (flag === '--parallel-gc') {
      options.parallelGc = true;
      continue;
    }
    if (flag === '--cpu-prof') {
      options.cpuProf = true;
      continue;
    }
    if (flag === '--tracing') {
      options.tracing = true;
      continue;
    }
    if (flag === '--aof') {
      const aof = value();
      if (aof !== 'off' && aof !== 'everysec' && aof !== 'always') {
        throw new UsageError(`--aof is off, everysec or always, got "${aof}"`);
      }
      options.aof = aof;
      continue;
    }
    if (flag === '--json-dir') {
      options.jsonDir = value();
      continue;
    }
    if (flag === '--wait-quiet') {
      options.waitQuietSeconds = Number(value());
      if (!(options.waitQuietSeconds >= 0)) throw new UsageError('--wait-quiet must be ≥ 0');
      continue;
    }
    if (flag === '--rev') {
      options.rev = value();
      continue;
    }
    if (flag === '--timeout-min') {
      options.timeoutMinutes = Number(value());
      if (!(options.timeoutMinutes > 0)) throw new UsageError('--timeout-min must be > 0');
      continue;
    }
    const spec = KNOBS.find((k) => k.flag === flag);
    if (spec !== undefined) {
      (knobs as unknown as Record<string, number | number[]>)[spec.key] = parseKnob(spec, value());
      continue;
    }
    if (flag.startsWith('-')) throw new UsageError(`unknown option ${arg}; see --help`);
    if (!SCENARIOS.some((s) => s.name === flag)) {
      throw new UsageError(
        `unknown scenario "${flag}"; scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
      );
    }
    options.scenarios.push(flag);
  }
  if (options.scenarios.length === 0) options.scenarios = SCENARIOS.map((s) => s.name);
  return options;
}

export function helpText(): string {
  const lines = [
    'Usage: npx tsx bench/run.ts [scenario...] [--quick] [--aof off|everysec|always]',
    '                            [--json-dir bench/results] [--cpu-prof] [--tracing] [--rev REF] [--compiled] [--parallel-gc] [--wait-quiet S] [--timeout-min N] [knobs]',
    '',
    'Starts a private redis-server (free port, 127.0.0.1) and, per scenario, a Rota broker',
    'child process (node --single-threaded-gc --import tsx src/cli.ts, as npm start runs',
    'it); workers and producers run in separate agent processes. Prints a table and writes',
    '<json-dir>/<scenario>-<timestamp>.json (and .svg charts for fairness and noisy).',
    'No scenario = all of them.',
    '',
    'Scenarios:',
    ...SCENARIOS.map((s) => `  ${s.name.padEnd(12)}${s.help}`),
    '',
    'Run options:',
    '  --quick                 small counts, under a minute in all: a CI smoke test',
    '  --aof <mode>            Redis persistence: off (default), everysec, always',
    '  --json-dir <dir>        where results go (default bench/results)',
    '  --cpu-prof              run the broker under node --cpu-prof; print its top self-time',
    '                          functions per scenario (slows it down: not for figures)',
    '  --tracing               trace every job: OpenTelemetry on in the broker and the Rota',
    '                          agents, exported over OTLP/HTTP to a local sink that drops',
    '                          the spans (compare with a run without it: the cost of tracing).',
    '                          Every job is sampled unless OTEL_TRACES_SAMPLER(_ARG) say otherwise',
    '  --timeout-min <n>       abort the whole run after n minutes (default 20; quick 3)',
    '  --wait-quiet <s>        before each scenario, wait up to s seconds for other load on',
    '                          the machine to drop below 15% of its cores (default 0)',
    '  --compiled              run the broker as tsc output on plain node (built into a',
    '                          temporary folder), not under tsx: production-like CPU and RSS',
    '  --parallel-gc           run the broker without --single-threaded-gc, which npm start',
    "                          gives it: V8 collects with its helper threads (node's default)",
    '  --rev <git-ref>         benchmark that commit (exported with git archive to a temporary',
    '                          folder) instead of the working tree: steady figures while the',
    '                          tree is being edited',
    '',
    'Knobs (full / --quick default):',
    ...KNOBS.map((k) => {
      const show = (v: number | number[]): string => (Array.isArray(v) ? v.join(',') : String(v));
      return `  ${`${k.flag} <n>  `.padEnd(24)}${k.help} (${show(k.full)} / ${show(k.quick)})`;
    }),
    '',
    'Example: npx tsx bench/run.ts throughput latency --jobs 50000 --rates 2000',
  ];
  return lines.join('\n');
}
