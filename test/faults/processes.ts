/**
 * Child processes of the fault suite, the fuzz suite and the soak run: every
 * one is spawned through a `ProcessGroup`, which can SIGKILL it, waits for its
 * exit, and at the end kills whatever is left and proves that nothing is.
 *
 * TypeScript entry points run as `node --import tsx <file>`: one process, no
 * npx/tsx wrapper, so the pid we SIGKILL is the process doing the work.
 * stdout and stderr go straight to a log file (no pipe for the parent to
 * drain), so the log survives a SIGKILL and serves as evidence.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Preload that ends a child when this process is gone (see agents/exit-with-parent.ts). */
const EXIT_WITH_PARENT = pathToFileURL(
  path.join(REPO_ROOT, 'test/faults/agents/exit-with-parent.ts'),
).href;

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Settles when the process has exited (code or signal). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
  /** Sends `signal` (default SIGKILL) and waits for the exit. No-op once exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** The last `chars` characters of its log. */
  logTail(chars?: number): string;
}

export interface SpawnOptions {
  readonly name: string;
  /** Path of a .ts file, relative to the repository root or absolute. */
  readonly entry: string;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly logFile: string;
  /** Preload agents/exit-with-parent.ts (end with the parent). @default true */
  readonly exitWithParent?: boolean;
}

/** Every pid any group of this process has spawned and not yet seen exit. */
const everyLiveChild = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test run dies: never leave brokers or workers behind.
  process.on('exit', () => {
    for (const child of everyLiveChild) child.kill('SIGKILL');
  });
}

export class ProcessGroup {
  readonly #processes: ManagedProcess[] = [];

  get processes(): readonly ManagedProcess[] {
    return this.#processes;
  }

  spawnTs(options: SpawnOptions): ManagedProcess {
    installExitHook();
    const entry = path.isAbsolute(options.entry)
      ? options.entry
      : path.join(REPO_ROOT, options.entry);
    const fd = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      const preload = options.exitWithParent === false ? [] : ['--import', EXIT_WITH_PARENT];
      const args = ['--import', 'tsx', ...preload, entry, ...(options.args ?? [])];
      child = spawn(process.execPath, args, {
        cwd: REPO_ROOT,
        env: { ...process.env, ...options.env, ROTA_PARENT_PID: String(process.pid) },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error(`could not spawn ${options.name}`);
    everyLiveChild.add(child);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve) => {
        child.once('exit', (code, signal) => {
          exit = { code, signal };
          everyLiveChild.delete(child);
          resolve(exit);
        });
      },
    );
    const managed: ManagedProcess = {
      name: options.name,
      pid: child.pid,
      logFile: options.logFile,
      child,
      exited,
      get alive() {
        return exit === undefined;
      },
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        if (exit !== undefined) return;
        child.kill(signal);
        await exited;
      },
      logTail(chars = 4000) {
        try {
          return readFileSync(options.logFile, 'utf8').slice(-chars);
        } catch {
          return '';
        }
      },
    };
    this.#processes.push(managed);
    return managed;
  }

  /** SIGKILLs every process still running and waits for all exits. */
  async killAll(): Promise<void> {
    await Promise.all(this.#processes.map((p) => p.kill('SIGKILL')));
  }

  /** Pids of this group that are still running (should be empty after killAll). */
  leftovers(): number[] {
    return this.#processes.filter((p) => p.alive || pidAlive(p.pid)).map((p) => p.pid);
  }
}

/** True when a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised name) is the state; Z = zombie, X = dead.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live child processes of this process (Linux /proc), with their command names. */
export function liveChildren(): Array<{ pid: number; command: string }> {
  const out: Array<{ pid: number; command: string }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      const state = fields[0];
      const ppid = Number(fields[1]);
      if (ppid !== process.pid || state === 'Z' || state === 'X') continue;
      out.push({ pid: Number(entry), command: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
