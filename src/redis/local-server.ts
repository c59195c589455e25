/**
 * A private `redis-server` child process: used when `ROTA_REDIS_URL` is unset and by the tests.
 *
 * The server binds 127.0.0.1 only, never writes RDB snapshots (`--save ""`) and keeps its data
 * in an append-only file under `dir` (unless `appendonly: false`). Everything is passed on the
 * command line, so no config file is written.
 *
 * Readiness means "answers PING, and the answer comes from our child": the probe also reads
 * `process_id` from `INFO server`, so a foreign server that grabbed the port between our free-port
 * probe and the spawn is never mistaken for ours (ours then exits with EADDRINUSE and we retry
 * on another port). While the AOF loads, Redis answers `-LOADING`, which counts as not ready.
 *
 * Lifecycle of one child: STARTING → RUNNING → EXITED. `restart()` starts a new child on the
 * same port and dir. The child does not keep Node's event loop alive while it runs, and every
 * live child gets SIGTERM (a graceful SHUTDOWN, which flushes the AOF) when this process exits.
 * A SIGKILLed parent cannot run that hook. By default the child shares our process group, so a
 * Ctrl-C in the terminal stops it with us (what tests and benchmarks want). With `detached`, the
 * rota command's choice, it has a group of its own: a Ctrl-C reaches only us, and we stop it after
 * the broker's drain; the data folder is then claimed (data-dir-claim.ts), so that the next start
 * stops a server a SIGKILLed parent left running, and a second start on the folder is refused.
 */
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { claimDataDir, type DataDirClaim, type Leftover } from './data-dir-claim.js';
import {
  HOST,
  RedisServerStartError,
  launch,
  type AppendFsync,
  type Child,
  type OnSpawn,
  type Settings,
} from './server-process.js';

export { DataDirInUseError, type Leftover } from './data-dir-claim.js';
export {
  RedisServerMissingError,
  RedisServerStartError,
  type AppendFsync,
} from './server-process.js';

export interface LocalRedisOptions {
  /** TCP port on 127.0.0.1. 0 or unset = pick a free one. @default 0 */
  port?: number;
  /** Data folder (the AOF lives in `<dir>/appendonlydir`); created if missing. */
  dir: string;
  /** Keep data in an append-only file. @default true */
  appendonly?: boolean;
  /** AOF fsync policy; `always` makes every acknowledged write survive a crash. @default 'everysec' */
  appendfsync?: AppendFsync;
  /** Redis log file; unset = the log is kept in memory and shown when the server fails to start. */
  logFile?: string;
  /** Path or name of the executable. @default 'redis-server' */
  binary?: string;
  /** How long to wait for the first PONG. @default 10_000 */
  startTimeoutMs?: number;
  /**
   * Run the server in a process group of its own, claiming `dir` for it (see the top of this
   * file): a terminal's Ctrl-C then leaves it to the caller to stop. @default false
   */
  detached?: boolean;
}

export interface LocalRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Absolute data folder. */
  readonly dir: string;
  /** Graceful stop (SIGTERM = SHUTDOWN: flushes the AOF); waits for the exit. No-op when stopped. */
  stop(): Promise<void>;
  /** SIGKILL, like a crash; waits for the exit. No-op when stopped. */
  kill(): Promise<void>;
  /** Starts again on the same port and dir (stopping gracefully first if still running). */
  restart(): Promise<void>;
  /** Pid of the running child; undefined once it has exited. */
  readonly pid: number | undefined;
  /** Detached only: a server a SIGKILLed earlier parent left running on `dir`, stopped first. */
  readonly leftover: Leftover | undefined;
}

const STOP_TIMEOUT_MS = 10_000;
const FREE_PORT_ATTEMPTS = 5;

function compileOptions(options: LocalRedisOptions): Settings {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new TypeError(`port must be an integer in 0..65535 (0 = any free port), got ${port}`);
  }
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new TypeError('dir must name the data folder of the local redis-server');
  }
  const appendfsync = options.appendfsync ?? 'everysec';
  if (!['always', 'everysec', 'no'].includes(appendfsync)) {
    throw new TypeError(`appendfsync must be 'always', 'everysec' or 'no', got ${appendfsync}`);
  }
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  if (!(startTimeoutMs > 0)) throw new TypeError('startTimeoutMs must be positive');
  return Object.freeze({
    port,
    dir: path.resolve(options.dir),
    appendonly: options.appendonly ?? true,
    appendfsync,
    logFile: options.logFile === undefined ? undefined : path.resolve(options.logFile),
    binary: options.binary ?? 'redis-server',
    startTimeoutMs,
    detached: options.detached ?? false,
  });
}

export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const settings = compileOptions(options);
  await mkdir(settings.dir, { recursive: true });
  if (settings.logFile !== undefined) {
    await mkdir(path.dirname(settings.logFile), { recursive: true });
  }
  const { port, child, claim } = await launchClaimed(settings, (onSpawn) =>
    launchOnSomePort(settings, onSpawn),
  );
  return new LocalRedisServer(settings, port, child, claim);
}

interface Launched {
  readonly port: number;
  readonly child: Child;
}

/**
 * Runs `start`, first claiming the data folder when detached. The claim records each child as
 * soon as it is spawned: one still loading its data when this process is killed is found too.
 * The claim goes if the start fails.
 */
async function launchClaimed(
  settings: Settings,
  start: (onSpawn: OnSpawn | undefined) => Promise<Launched>,
): Promise<Launched & { claim: DataDirClaim | undefined }> {
  const claim = settings.detached ? await claimDataDir(settings.dir) : undefined;
  try {
    const launched = await start(claim && ((pid, port) => claim.record(pid, port)));
    return { ...launched, claim };
  } catch (error) {
    await claim?.release();
    throw error;
  }
}

/** On the configured port, or on a free one (another if it is taken meanwhile). */
async function launchOnSomePort(settings: Settings, onSpawn?: OnSpawn): Promise<Launched> {
  if (settings.port !== 0) {
    return { port: settings.port, child: await launch(settings, settings.port, onSpawn) };
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, child: await launch(settings, port, onSpawn) };
    } catch (error) {
      const portTaken = error instanceof RedisServerStartError && error.code === 'port_in_use';
      if (!portTaken || attempt >= FREE_PORT_ATTEMPTS) throw error;
    }
  }
}

class LocalRedisServer implements LocalRedis {
  readonly url: string;
  readonly leftover: Leftover | undefined;
  #child: Child | undefined;
  #claim: DataDirClaim | undefined;
  #starting = false;

  constructor(
    private readonly settings: Settings,
    readonly port: number,
    child: Child,
    claim: DataDirClaim | undefined,
  ) {
    this.url = `redis://${HOST}:${port}`;
    this.#child = child;
    this.#claim = claim;
    this.leftover = claim?.leftover;
  }

  get dir(): string {
    return this.settings.dir;
  }

  get pid(): number | undefined {
    const child = this.#child;
    return child === undefined || child.exit !== undefined ? undefined : child.process.pid;
  }

  stop(): Promise<void> {
    return this.#terminate('SIGTERM');
  }

  kill(): Promise<void> {
    return this.#terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    if (this.#starting) throw new Error(`local redis on port ${this.port} is already restarting`);
    this.#starting = true;
    try {
      await this.stop();
      const { child, claim } = await launchClaimed(this.settings, async (onSpawn) => ({
        port: this.port,
        child: await launch(this.settings, this.port, onSpawn),
      }));
      this.#child = child;
      this.#claim = claim;
    } finally {
      this.#starting = false;
    }
  }

  async #terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    child.process.ref(); // keep the loop alive until the exit is seen
    if (child.exit === undefined) child.process.kill(signal);
    const escalate =
      signal === 'SIGTERM'
        ? setTimeout(() => child.process.kill('SIGKILL'), STOP_TIMEOUT_MS)
        : undefined;
    try {
      await child.exited;
    } finally {
      clearTimeout(escalate);
    }
    if (this.#child !== child) return;
    this.#child = undefined;
    await this.#claim?.release();
    this.#claim = undefined;
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the OS picks it and the
 * listener is closed before the caller's server binds it (redis-server here;
 * the bench and fault tests use it for their brokers too).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port found'))));
    });
  });
}
