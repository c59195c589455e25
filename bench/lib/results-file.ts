/**
 * Where the stand-alone benches (store-cycle, remote-worker, wakeup-cost,
 * tenant-churn) write their results: bench/results/<name>-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { REPO_ROOT } from './rota-broker.js';

/** Writes `data` as bench/results/<name>-<UTC timestamp>.json, says where, and returns the path. */
export function writeResults(name: string, data: unknown): string {
  const out = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z');
  const file = join(out, `${name}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2));
  console.log(`→ ${file}`);
  return file;
}
