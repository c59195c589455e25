/**
 * `npx tsx bench/run.ts [scenario...] [--quick] [--aof off|everysec|always] [--json-dir dir] [--help]`
 *
 * Starts a private redis-server on a free port, then runs each scenario against
 * a Rota broker child process of its own (and, for the comparisons, BullMQ on
 * the same Redis), prints one table, and writes
 * `<json-dir>/<scenario>-<timestamp>.json` (plus SVG charts). Every process it
 * starts is stopped at the end, on errors, on Ctrl-C and at the run's deadline.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';

import { Redis } from 'ioredis';

import { startLocalRedis, type LocalRedis } from '../src/redis/local-server.js';
import { stopAll } from './lib/children.js';
import { BenchContext, type ScenarioOutput, type ScenarioResult } from './lib/context.js';
import { formatProfile } from './lib/cpuprofile.js';
import { helpText, parseArgs, UsageError, type RunOptions } from './lib/options.js';
import { startOtlpSink, type OtlpSink } from './lib/otlp-sink.js';
import { machineBusyPercent } from './lib/proc.js';
import { formatTable, formatTargets, machineInfo, type MachineInfo } from './lib/report.js';
import { REPO_ROOT } from './lib/rota-broker.js';
import { compileTree, exportCommit, type CompiledTree, type Snapshot } from './lib/snapshot.js';
import { fairness } from './scenarios/fairness.js';
import { latency } from './scenarios/latency.js';
import { noisy } from './scenarios/noisy.js';
import { ratelimit } from './scenarios/ratelimit.js';
import { scale } from './scenarios/scale.js';
import { throughput } from './scenarios/throughput.js';

const SCENARIO_RUNNERS: Record<string, (ctx: BenchContext) => Promise<ScenarioOutput>> = {
  throughput,
  latency,
  fairness,
  noisy,
  ratelimit,
  scale,
};

export interface ScenarioFile {
  scenario: string;
  runId: string;
  quick: boolean;
  aof: string;
  machine: MachineInfo;
  knobs: RunOptions['knobs'];
  result: ScenarioResult;
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

let redis: LocalRedis | undefined;
let redisClient: Redis | undefined;
let context: BenchContext | undefined;
let dataDir: string | undefined;
let snapshot: Snapshot | undefined;
let compiled: CompiledTree | undefined;
let otlpSink: OtlpSink | undefined;
let cleaning: Promise<void> | undefined;
let aborting = false;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await context?.closeAgents().catch(() => undefined);
    await stopAll(5000).catch(() => undefined);
    redisClient?.disconnect();
    await redis?.stop().catch(() => undefined);
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    snapshot?.remove();
    compiled?.remove();
    await otlpSink?.close();
  })();
  return cleaning;
}

function abort(reason: string, code: number): void {
  if (aborting) return;
  aborting = true;
  process.stderr.write(`\nbench: ${reason}; stopping every process it started\n`);
  const force = setTimeout(() => process.exit(code), 15_000);
  force.unref();
  void cleanup().finally(() => process.exit(code));
}

async function main(argv: readonly string[]): Promise<number> {
  let options: RunOptions | undefined;
  try {
    options = parseArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench: ${error.message}`);
      return 2;
    }
    throw error;
  }
  if (options === undefined) {
    console.log(helpText());
    return 0;
  }
  const runId = timestamp();
  const started = Date.now();
  const deadline = started + options.timeoutMinutes * 60_000;
  const deadlineTimer = setTimeout(
    () => abort(`the run passed its ${options.timeoutMinutes} min deadline (--timeout-min)`, 1),
    options.timeoutMinutes * 60_000 + 30_000,
  );
  deadlineTimer.unref();
  const jsonDir = resolve(options.jsonDir);
  mkdirSync(jsonDir, { recursive: true });
  options.jsonDir = jsonDir;

  if (options.rev !== undefined) {
    snapshot = await exportCommit(options.rev);
    process.env.ROTA_BENCH_ROOT = snapshot.root; // the agents load that tree's clients
    process.stderr.write(
      `bench: testing ${options.rev} = ${snapshot.commit} (exported to ${snapshot.root})\n`,
    );
  }
  if (options.compiled) {
    process.stderr.write(
      'bench: compiling the broker (tsc, tsconfig.build.json) into a temporary folder\n',
    );
    compiled = await compileTree(snapshot?.root ?? REPO_ROOT);
  }
  if (options.tracing) {
    otlpSink = await startOtlpSink();
    // Inherited by the broker and the agents this run starts.
    Object.assign(process.env, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink.endpoint,
    });
    // Every job unless the caller sets a sampler (e.g. parentbased_traceidratio with an arg).
    process.env.OTEL_TRACES_SAMPLER ??= 'parentbased_always_on';
  }
  dataDir = mkdtempSync(join(os.tmpdir(), 'rota-bench-'));
  redis = await startLocalRedis({
    dir: dataDir,
    appendonly: options.aof !== 'off',
    appendfsync: options.aof === 'off' ? 'everysec' : options.aof,
    logFile: join(jsonDir, `redis-${runId}.log`),
  });
  redisClient = new Redis(redis.url, { lazyConnect: true });
  await redisClient.connect();
  const machine = await machineInfo(
    redisClient,
    snapshot === undefined ? undefined : { ref: options.rev ?? '', commit: snapshot.commit },
    options.compiled,
    options.knobs.mmapThreshold,
    options.parallelGc,
  );
  process.stderr.write(
    `bench ${runId}: redis ${machine.redis} on ${redis.url} (AOF ${options.aof}), ` +
      `${machine.cpus} cpus, node ${machine.node}, scenarios: ${options.scenarios.join(' ')}` +
      `${options.quick ? ' (quick)' : ''}\n`,
  );
  context = new BenchContext(
    options,
    redis,
    redisClient,
    runId,
    deadline,
    snapshot?.root ?? REPO_ROOT,
    compiled,
  );

  const results: ScenarioResult[] = [];
  for (const name of options.scenarios) {
    if (aborting) break;
    const run = SCENARIO_RUNNERS[name]!;
    context.scenario = name;
    let foreignBusyPercent = await machineBusyPercent(options.quick ? 300 : 1000);
    const quietBy = Date.now() + options.waitQuietSeconds * 1000;
    if (foreignBusyPercent > 15 && options.waitQuietSeconds > 0) {
      context.log(
        `the machine is ${foreignBusyPercent.toFixed(0)}% busy with other work: waiting for it to calm down`,
      );
      while (foreignBusyPercent > 15 && Date.now() < quietBy && !aborting) {
        foreignBusyPercent = await machineBusyPercent(2000);
      }
    }
    if (foreignBusyPercent > 15) {
      context.log(
        `warning: the machine is already ${foreignBusyPercent.toFixed(0)}% busy with other work; figures will be low and noisy`,
      );
    }
    const profilesBefore = context.profiles.length;
    const startedAt = new Date();
    const t0 = performance.now();
    let outcome: ScenarioOutput & { error?: string };
    try {
      outcome = await run(context);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      context.log(`FAILED: ${message}`);
      outcome = { error: message, rows: [], targets: [], details: {}, charts: [], notes: [] };
    }
    await context.endScenario();
    const result: ScenarioResult = {
      scenario: name,
      startedAt: startedAt.toISOString(),
      wallSeconds: (performance.now() - t0) / 1000,
      foreignBusyPercent,
      brokerProfiles: [],
      ...outcome,
    };
    if (aborting) return 130; // abort() stops everything and exits; write nothing half-done
    await context.flush().catch(() => undefined);
    result.brokerProfiles = context.profiles.slice(profilesBefore);
    results.push(result);
    const base = join(jsonDir, `${name}-${runId}`);
    const chartFiles: string[] = [];
    for (const chart of result.charts) {
      const file = `${base}${result.charts.length > 1 ? `-${chart.name}` : ''}.svg`;
      writeFileSync(file, chart.svg);
      chartFiles.push(file);
    }
    const file: ScenarioFile = {
      scenario: name,
      runId,
      quick: options.quick,
      aof: options.aof,
      machine,
      knobs: options.knobs,
      result: {
        ...result,
        charts: result.charts.map((c, i) => ({ name: c.name, svg: chartFiles[i] ?? '' })),
      },
    };
    writeFileSync(`${base}.json`, `${JSON.stringify(file, null, 2)}\n`);
    context.log(
      `done in ${result.wallSeconds.toFixed(1)} s → ${base}.json${chartFiles.map((f) => `, ${f}`).join('')}`,
    );
  }

  const table = formatTable(results);
  const targets = formatTargets(results);
  const notes = results.flatMap((r) => r.notes.map((n) => `  ${r.scenario}: ${n}`));
  console.log('');
  console.log(
    `Rota bench ${runId}${options.quick ? ' (quick)' : ''} — ${machine.cpus} × ${machine.cpuModel}, ` +
      `node ${machine.node}, redis ${machine.redis} (AOF ${options.aof}), bullmq ${machine.bullmq}, ` +
      `commit ${machine.gitCommit.slice(0, 10)} (${machine.tree}${machine.gitDirty ? ', uncommitted changes' : ''}), broker ${machine.brokerRuntime}`,
  );
  const busy = results.map((r) => `${r.scenario} ${r.foreignBusyPercent.toFixed(0)}%`).join(', ');
  console.log(`Other load on the machine before each scenario (share of all cores): ${busy}`);
  console.log('');
  console.log(table);
  if (targets !== '') console.log(`\n${targets}`);
  if (notes.length > 0) console.log(`\nNotes:\n${notes.join('\n')}`);
  if (otlpSink !== undefined) {
    console.log(
      `\nTracing on (sampler ${process.env.OTEL_TRACES_SAMPLER} ${process.env.OTEL_TRACES_SAMPLER_ARG ?? ''}): the OTLP sink received ${otlpSink.requests} exports, ${(otlpSink.bytes / 1e6).toFixed(1)} MB`,
    );
  }
  for (const result of results) {
    for (const profile of result.brokerProfiles) {
      console.log(`\n[${result.scenario}] ${formatProfile(profile)}`);
    }
  }
  console.log(`\nTotal ${((Date.now() - started) / 1000).toFixed(0)} s. Results in ${jsonDir}`);
  clearTimeout(deadlineTimer);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

process.on('SIGINT', () => abort('interrupted (SIGINT)', 130));
process.on('SIGTERM', () => abort('terminated (SIGTERM)', 143));

main(process.argv.slice(2)).then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (error: unknown) => {
    console.error(
      `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    await cleanup();
    process.exit(1);
  },
);
