/** The `rota` command run as a child process, as an operator runs it. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLAIM_FILE } from '../../src/redis/data-dir-claim.js';

const ROTA = [process.execPath, '--import', 'tsx', 'src/cli.ts'] as const;

/**
 * Runs `src/cli.ts` with `env` added to this process's, until it exits: its exit code and output
 * (stdout and stderr). One still running after `timeoutMs` (started when it should have refused
 * to) gets SIGTERM, and SIGKILL should that not stop it.
 */
export function runRotaUntilExit(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; output: string }> {
  const [command, ...args] = ROTA;
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = setTimeout(() => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, timeoutMs);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(stop);
      resolve({ code, output });
    }),
  );
}

/** A `rota` running in a process group of its own, as a terminal's foreground job. */
export class RotaProcess {
  readonly exited: Promise<number | null>;
  #output = '';
  /** The broker's pid, once it listens: in a terminal of its own it is outside the child's group. */
  #brokerPid: number | undefined;

  private constructor(
    readonly child: ChildProcess,
    /** Its private Redis's data folder, if it was given one. */
    readonly dataDir: string | undefined,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  /**
   * `src/cli.ts` run by node, or `npm start` (npm, sh, tsx and node), or by
   * node in a terminal of its own (`script` makes one and relays its output),
   * with `env` added.
   */
  static start(
    env: Record<string, string>,
    how: 'node' | 'npm start' | 'terminal' = 'node',
  ): RotaProcess {
    const [command, ...args] = {
      node: ROTA,
      'npm start': ['npm', 'start'] as const,
      terminal: [
        'script',
        '-qfec',
        ROTA.map((word) => `'${word}'`).join(' '),
        '/dev/null',
      ] as const,
    }[how];
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // a process group of its own, as a terminal gives a foreground job
    });
    return new RotaProcess(child, env.ROTA_REDIS_DATA_DIR);
  }

  get output(): string {
    return this.#output;
  }

  /** Waits for the "rota broker listening" line; the address and the broker's pid it names. */
  async listening(timeoutMs = 30_000): Promise<{ address: string; pid: number }> {
    const line =
      /"address":"([^"]+)","brokerId":"[^"]*?-(\d+)-[0-9a-f]+","msg":"rota broker listening"/;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = line.exec(this.#output);
      if (found) {
        this.#brokerPid = Number(found[2]);
        return { address: found[1]!, pid: this.#brokerPid };
      }
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`rota did not start:\n${this.#output}`);
      }
      await sleep(25);
    }
  }

  /** Waits until the output holds `text`. */
  async said(text: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#output.includes(text)) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`rota never said ${JSON.stringify(text)}:\n${this.#output}`);
      }
      await sleep(25);
    }
  }

  /** What a terminal's Ctrl-C does: SIGINT to every process of the group. */
  interruptGroup(): void {
    process.kill(-this.child.pid!, 'SIGINT');
  }

  /**
   * What closing a terminal window does: the terminal's end held by the
   * window goes, and the kernel sends SIGHUP to the broker, whose output has
   * nowhere to go from then on.
   */
  closeTerminal(): void {
    this.child.kill('SIGKILL'); // `script`, which holds that end
  }

  /** Kills whatever is left: the group, the broker, and a private redis-server in a group of its own. */
  async dispose(): Promise<void> {
    const group = pgrep('-g', String(this.child.pid));
    const brokers = this.#brokerPid === undefined ? [] : [this.#brokerPid];
    const servers = [
      ...[...group, ...brokers].flatMap(redisServerChildren),
      ...this.#claimedServer(),
    ];
    signal(-this.child.pid!, 'SIGKILL');
    for (const pid of brokers) signal(pid, 'SIGKILL');
    for (const pid of servers) signal(pid, 'SIGKILL');
    await this.exited;
  }

  #claimedServer(): number[] {
    return this.dataDir === undefined ? [] : [claimedServerPid(this.dataDir) ?? []].flat();
  }
}

/** The pid of the redis-server recorded in a data folder's claim file. */
export function claimedServerPid(dataDir: string): number | undefined {
  try {
    const claim = JSON.parse(readFileSync(path.join(dataDir, CLAIM_FILE), 'utf8')) as {
      server?: number;
    };
    return claim.server;
  } catch {
    return undefined;
  }
}

/** Pids of the redis-server processes whose parent is `pid`. */
export function redisServerChildren(pid: number): number[] {
  return pgrep('-P', String(pid), '-x', 'redis-server');
}

function pgrep(...args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when none matches
  }
}

/** Whether `pid` runs: not gone, nor a zombie its parent has not reaped (an orphan's may be slow to). */
export function isRunning(pid: number): boolean {
  try {
    const state = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
    return !state.trim().startsWith('Z');
  } catch {
    return false; // ps exits 1 for no such process
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}
