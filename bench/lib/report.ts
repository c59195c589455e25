/** The run's output: the machine it ran on, the printed table, the JSON files. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

import type { Redis } from 'ioredis';

import type { ScenarioResult, TargetCheck } from './context.js';
import { BROKER_NODE_FLAGS, REPO_ROOT } from './rota-broker.js';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGb: number;
  os: string;
  node: string;
  redis: string;
  bullmq: string;
  grpcJs: string;
  ioredis: string;
  gitCommit: string;
  /** Uncommitted changes in the working tree when the run started (false for a --rev snapshot). */
  gitDirty: boolean;
  /** What ran: `working tree` or `snapshot of <ref>`. */
  tree: string;
  /** How the broker ran: `tsx` (src/cli.ts) or `compiled` (tsc output on plain node), its GC flag and its malloc setting. */
  brokerRuntime: string;
  /** 1-minute load average when the run started (other work on the machine shows here). */
  loadAverage: number;
}

function packageVersion(name: string): string {
  try {
    const json = JSON.parse(
      readFileSync(`${REPO_ROOT}node_modules/${name}/package.json`, 'utf8'),
    ) as { version?: string };
    return json.version ?? '?';
  } catch {
    return '?';
  }
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export async function machineInfo(
  redis: Redis,
  snapshot: { ref: string; commit: string } | undefined,
  compiled: boolean,
  mmapThreshold: number,
  parallelGc: boolean,
): Promise<MachineInfo> {
  const info = await redis.info('server');
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    bullmq: packageVersion('bullmq'),
    grpcJs: packageVersion('@grpc/grpc-js'),
    ioredis: packageVersion('ioredis'),
    gitCommit: snapshot?.commit ?? (git(['rev-parse', 'HEAD']) || 'unknown'),
    gitDirty: snapshot === undefined && git(['status', '--porcelain']) !== '',
    tree: snapshot === undefined ? 'working tree' : `snapshot of ${snapshot.ref}`,
    brokerRuntime:
      (compiled ? 'compiled (node dist/src/cli.js)' : 'tsx (node --import tsx src/cli.ts)') +
      (parallelGc ? ', V8’s parallel GC' : `, ${BROKER_NODE_FLAGS.join(' ')}`) +
      (mmapThreshold > 0
        ? `, MALLOC_MMAP_THRESHOLD_=${mmapThreshold}`
        : ', glibc’s sliding mmap threshold'),
    loadAverage: os.loadavg()[0] ?? NaN,
  };
}

/** Numbers as a table shows them: 3 significant digits, thousands separated. */
export function formatValue(value: number | null): string {
  if (value === null) return '–';
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

function ratio(rota: number | null, bullmq: number | null): string {
  if (rota === null || bullmq === null || !Number.isFinite(rota) || !Number.isFinite(bullmq)) {
    return '';
  }
  if (bullmq === 0) return '';
  return `${(rota / bullmq).toFixed(2)}×`;
}

/** The results of every scenario as one plain-text table (and the target checks). */
export function formatTable(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'metric', 'unit', 'Rota', 'BullMQ', 'Rota/BullMQ'];
  const body: string[][] = [];
  for (const result of results) {
    if (result.error !== undefined) {
      body.push([result.scenario, `FAILED: ${result.error.split('\n')[0] ?? ''}`, '', '', '', '']);
      continue;
    }
    for (const row of result.rows) {
      const arrow = row.better === 'higher' ? ' ↑' : row.better === 'lower' ? ' ↓' : '';
      body.push([
        result.scenario,
        row.metric + arrow,
        row.unit,
        formatValue(row.rota),
        formatValue(row.bullmq),
        ratio(row.rota, row.bullmq),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const right = new Set([3, 4, 5]);
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let previous = '';
  for (const row of body) {
    if (row[0] !== previous && previous !== '') out.push('');
    previous = row[0] ?? '';
    out.push(line(row));
  }
  out.push('', '↑ higher is better, ↓ lower is better; the ratio is Rota ÷ BullMQ.');
  return out.join('\n');
}

export function formatTargets(results: readonly ScenarioResult[]): string {
  const checks: Array<TargetCheck & { scenario: string }> = results.flatMap((r) =>
    r.targets.map((t) => ({ ...t, scenario: r.scenario })),
  );
  if (checks.length === 0) return '';
  const lines = ['Targets (BASELINES.md):'];
  for (const check of checks) {
    const verdict = check.met === null ? ' ?? ' : check.met ? ' MET' : 'MISS';
    lines.push(`  [${verdict}] ${check.target}`, `         ${check.measured}`);
  }
  return lines.join('\n');
}
