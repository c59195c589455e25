/**
 * Linux /proc readings of one process: CPU time (utime + stime of
 * /proc/<pid>/stat) and memory (VmRSS / VmHWM of /proc/<pid>/status).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!(ticksPerSecond > 0)) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) the process has used so far; NaN when unreadable. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return NaN;
  }
}

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM); NaN when unreadable. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] === undefined ? NaN : Number(match[1]);
  } catch {
    return NaN;
  }
}

/** CPU used by a set of named processes between start() and stop(). */
export class CpuMeter {
  readonly #start = new Map<string, number>();
  #startedAt = 0;
  #machine = { busy: 0, total: 0 };

  constructor(private readonly pids: Readonly<Record<string, number>>) {}

  start(): void {
    this.#startedAt = performance.now();
    this.#machine = safeTotals();
    for (const [name, pid] of Object.entries(this.pids)) this.#start.set(name, cpuSeconds(pid));
  }

  /**
   * Per process: CPU seconds used and the share of one core over the window;
   * `otherCorePercent`: what every other process of the machine used meanwhile
   * (other people's work, and this bench's orchestrator), in % of one core.
   */
  stop(): {
    wallSeconds: number;
    processes: Record<string, { cpuSeconds: number; corePercent: number }>;
    otherCorePercent: number;
  } {
    const wallSeconds = (performance.now() - this.#startedAt) / 1000;
    const machine = safeTotals();
    const processes: Record<string, { cpuSeconds: number; corePercent: number }> = {};
    let ours = 0;
    for (const [name, pid] of Object.entries(this.pids)) {
      const used = cpuSeconds(pid) - (this.#start.get(name) ?? NaN);
      processes[name] = { cpuSeconds: used, corePercent: (100 * used) / wallSeconds };
      if (Number.isFinite(used)) ours += used;
    }
    const busyShare =
      (machine.busy - this.#machine.busy) / Math.max(1, machine.total - this.#machine.total);
    const machineCoreSeconds = busyShare * cpus().length * wallSeconds;
    const otherCorePercent = Math.max(0, (100 * (machineCoreSeconds - ours)) / wallSeconds);
    return { wallSeconds, processes, otherCorePercent };
  }
}

function safeTotals(): { busy: number; total: number } {
  try {
    return cpuTotals();
  } catch {
    return { busy: NaN, total: NaN };
  }
}

function cpuTotals(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * How busy the whole machine is over `ms` (percent of all cores). Sampled while
 * the bench itself is idle, it measures the other work on the machine, which
 * skews every figure of a 2-core VM.
 */
export async function machineBusyPercent(ms = 1000): Promise<number> {
  try {
    const before = cpuTotals();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const after = cpuTotals();
    return (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total);
  } catch {
    return NaN;
  }
}
