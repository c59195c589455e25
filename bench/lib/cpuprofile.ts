/**
 * Summary of a V8 `.cpuprofile` (node --cpu-prof): self time per function and
 * per package, idle time left out of the percentages.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  selfMs: number;
  /** Share of the busy (non-idle) time. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  /** Self time per function. */
  functions: ProfileEntry[];
  /** Self time per package (or top folder of the repository). */
  packages: ProfileEntry[];
  /**
   * Inclusive (total) time of the repository's own functions (src/, clients/):
   * what each of our functions costs including the library calls it makes.
   */
  ownInclusive: ProfileEntry[];
}

/** Where a frame's code lives: a repo path, a package, node's internals or V8. */
function locate(url: string, repoRoot: string): { where: string; pkg: string } {
  if (url === '') return { where: '', pkg: '(v8/native)' };
  let path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  if (path.startsWith('node:')) return { where: path, pkg: 'node (internals)' };
  if (path.startsWith(repoRoot)) path = path.slice(repoRoot.length);
  else path = path.replace(/^.*\/rota-bench-(?:build|tree)-[^/]+\//, ''); // --compiled / --rev trees
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? '?');
    return { where: path.slice(nm), pkg };
  }
  const top = path.split('/').slice(0, 2).join('/');
  return { where: path, pkg: top };
}

export function summariseProfile(file: string, repoRoot: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const functions = new Map<string, ProfileEntry>();
  const packages = new Map<string, ProfileEntry>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const { where, pkg } = locate(url, repoRoot);
    const name = functionName || '(anonymous)';
    const key = `${name} ${where}:${lineNumber + 1}`;
    const fn = functions.get(key) ?? {
      name,
      where: where === '' ? '' : `${where}:${lineNumber + 1}`,
      selfMs: 0,
      percent: 0,
    };
    fn.selfMs += us / 1000;
    functions.set(key, fn);
    const group = name.startsWith('(') && url === '' ? name : pkg;
    const p = packages.get(group) ?? { name: group, where: '', selfMs: 0, percent: 0 };
    p.selfMs += us / 1000;
    packages.set(group, p);
  }
  const inclusive = new Map<string, ProfileEntry>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node === undefined) break;
      const { functionName, url, lineNumber } = node.callFrame;
      if (functionName === '(idle)') break;
      const { where } = locate(url, repoRoot);
      if (!/^(src|clients)\//.test(where) || where.includes('node_modules')) continue;
      const key = `${functionName} ${where}:${lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = inclusive.get(key) ?? {
        name: functionName || '(anonymous)',
        where: `${where}:${lineNumber + 1}`,
        selfMs: 0,
        percent: 0,
      };
      entry.selfMs += us / 1000;
      inclusive.set(key, entry);
    }
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const rank = (entries: Iterable<ProfileEntry>): ProfileEntry[] =>
    [...entries]
      .map((e) => ({ ...e, selfMs: Math.round(e.selfMs), percent: (100 * e.selfMs) / busyMs }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top);
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyMs),
    functions: rank(functions.values()),
    packages: rank(packages.values()),
    ownInclusive: rank(inclusive.values()),
  };
}

export function formatProfile(summary: ProfileSummary, top = 15): string {
  const lines = [
    `broker CPU profile ${summary.file}: ${summary.busyMs} ms busy of ${summary.totalMs} ms`,
    '  self ms   busy%  function (where)',
  ];
  for (const fn of summary.functions.slice(0, top)) {
    lines.push(
      `  ${String(fn.selfMs).padStart(7)}  ${fn.percent.toFixed(1).padStart(5)}%  ${fn.name}${fn.where === '' ? '' : `  (${fn.where})`}`,
    );
  }
  lines.push('  total (inclusive) time of our own functions:');
  for (const fn of summary.ownInclusive.slice(0, top)) {
    lines.push(
      `  ${String(fn.selfMs).padStart(7)}  ${fn.percent.toFixed(1).padStart(5)}%  ${fn.name}  (${fn.where})`,
    );
  }
  lines.push('  self time by package:');
  for (const pkg of summary.packages.slice(0, 10)) {
    lines.push(
      `  ${String(pkg.selfMs).padStart(7)}  ${pkg.percent.toFixed(1).padStart(5)}%  ${pkg.name}`,
    );
  }
  return lines.join('\n');
}
