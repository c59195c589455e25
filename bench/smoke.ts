/**
 * CI smoke test of the benchmarks: `npx tsx bench/smoke.ts`.
 *
 * Runs `bench/run.ts --quick` (every scenario, small counts, under a minute)
 * into a temporary folder and checks the SHAPE of what it wrote: one JSON file
 * per scenario with machine info, rows, targets, and the SVG charts of fairness
 * and noisy. It never judges speed: a slow machine passes, a broken bench fails.
 * Exits 0 when every check passes, 1 otherwise (and 1 when the run does not end
 * within its time limit; everything it started is stopped).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SCENARIOS } from './lib/options.js';

const TIME_LIMIT_MS = 150_000;
const COMPARED = new Set(['throughput', 'latency', 'noisy']);
const CHARTED = new Set(['fairness', 'noisy']);
/** Rows a scenario must report (metric names start so), each with a Rota figure. */
const REQUIRED_ROWS: Readonly<Record<string, readonly string[]>> = {
  throughput: ['enqueue', 'dispatch', 'end to end'].flatMap((rate) => [
    `single: ${rate}`,
    `batch: ${rate}`,
  ]),
};

const problems: string[] = [];
const check = (ok: boolean, problem: string): void => {
  if (!ok) problems.push(problem);
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function numberOrNull(value: unknown): boolean {
  return value === null || typeof value === 'number';
}

function checkFile(scenario: string, file: string): void {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    problems.push(`${scenario}: ${file} is not JSON (${String(error)})`);
    return;
  }
  if (!isObject(data)) return void problems.push(`${scenario}: the JSON is not an object`);
  check(data.scenario === scenario, `${scenario}: "scenario" is ${String(data.scenario)}`);
  check(typeof data.runId === 'string', `${scenario}: no runId`);
  check(data.quick === true, `${scenario}: "quick" is not true`);
  const machine = data.machine;
  if (!isObject(machine)) {
    problems.push(`${scenario}: no machine object`);
  } else {
    check(typeof machine.cpus === 'number' && machine.cpus > 0, `${scenario}: machine.cpus`);
    for (const key of ['node', 'redis', 'bullmq', 'gitCommit', 'cpuModel']) {
      check(typeof machine[key] === 'string' && machine[key] !== '', `${scenario}: machine.${key}`);
    }
  }
  const result = data.result;
  if (!isObject(result)) return void problems.push(`${scenario}: no result object`);
  check(
    result.error === undefined,
    `${scenario}: the scenario failed: ${String(result.error).split('\n')[0]}`,
  );
  check(typeof result.wallSeconds === 'number', `${scenario}: result.wallSeconds`);
  const rows = result.rows;
  if (!Array.isArray(rows) || rows.length === 0) {
    return void problems.push(`${scenario}: result.rows is empty`);
  }
  rows.forEach((row: unknown, i) => {
    if (!isObject(row)) return void problems.push(`${scenario}: rows[${i}] is not an object`);
    check(typeof row.metric === 'string' && row.metric !== '', `${scenario}: rows[${i}].metric`);
    check(typeof row.unit === 'string', `${scenario}: rows[${i}].unit`);
    check(numberOrNull(row.rota), `${scenario}: rows[${i}].rota is not a number or null`);
    check(numberOrNull(row.bullmq), `${scenario}: rows[${i}].bullmq is not a number or null`);
  });
  const finite = (key: 'rota' | 'bullmq'): boolean =>
    rows.some((row: unknown) => isObject(row) && Number.isFinite(row[key]));
  check(finite('rota'), `${scenario}: no row has a Rota figure`);
  if (COMPARED.has(scenario)) check(finite('bullmq'), `${scenario}: no row has a BullMQ figure`);
  for (const prefix of REQUIRED_ROWS[scenario] ?? []) {
    check(
      rows.some(
        (row: unknown) =>
          isObject(row) &&
          String(row.metric).startsWith(prefix) &&
          Number.isFinite(row.rota) &&
          (!COMPARED.has(scenario) || Number.isFinite(row.bullmq)),
      ),
      `${scenario}: no "${prefix}" row with figures`,
    );
  }
  if (!Array.isArray(result.targets)) problems.push(`${scenario}: result.targets is not an array`);
  else {
    result.targets.forEach((t: unknown, i) => {
      check(
        isObject(t) &&
          typeof t.target === 'string' &&
          typeof t.measured === 'string' &&
          (t.met === null || typeof t.met === 'boolean'),
        `${scenario}: targets[${i}] is malformed`,
      );
    });
  }
  const charts = result.charts;
  if (CHARTED.has(scenario)) {
    if (!Array.isArray(charts) || charts.length === 0) {
      problems.push(`${scenario}: no chart`);
    } else {
      for (const chart of charts as unknown[]) {
        const svgFile = isObject(chart) ? chart.svg : undefined;
        if (typeof svgFile !== 'string' || !existsSync(svgFile)) {
          problems.push(`${scenario}: chart file ${String(svgFile)} missing`);
          continue;
        }
        const svg = readFileSync(svgFile, 'utf8');
        check(
          svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'),
          `${scenario}: ${svgFile} is not an SVG document`,
        );
        check(
          svg.includes('<path') || svg.includes('<circle'),
          `${scenario}: ${svgFile} draws no data`,
        );
        check(
          (svg.match(/<text/g) ?? []).length >= 5,
          `${scenario}: ${svgFile} has no title, axes or legend`,
        );
      }
    }
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(os.tmpdir(), 'rota-bench-smoke-'));
  const runFile = fileURLToPath(new URL('./run.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', runFile, '--quick', '--json-dir', dir],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const stopChild = (): void => void child.kill('SIGINT');
  process.on('SIGINT', stopChild);
  process.on('SIGTERM', stopChild);
  const timer = setTimeout(() => {
    problems.push(`the quick run did not finish within ${TIME_LIMIT_MS / 1000} s`);
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
  }, TIME_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  check(code === 0, `bench/run.ts --quick exited with ${code}`);
  const files = existsSync(dir) ? readdirSync(dir) : [];
  for (const { name } of SCENARIOS) {
    const file = files.find((f) => f.startsWith(`${name}-`) && f.endsWith('.json'));
    if (file === undefined) problems.push(`${name}: no ${name}-<timestamp>.json written`);
    else checkFile(name, join(dir, file));
  }
  rmSync(dir, { recursive: true, force: true });
  if (problems.length > 0) {
    console.error(`\nbench smoke: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    return 1;
  }
  console.log(
    `\nbench smoke: every scenario wrote well-formed results (${SCENARIOS.length} scenarios)`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(
      `bench smoke: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exit(1);
  },
);
