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
 * A SIGKILLed parent cannot run that hook; the child then lives on until stopped by hand
 * (Ctrl-C in a terminal still reaches it: it shares our process group).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type AppendFsync = 'always' | 'everysec' | 'no';

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
}

/** The `redis-server` executable was not found. */
export class RedisServerMissingError extends Error {
  override readonly name = 'RedisServerMissingError';
  readonly code = 'redis_server_missing';

  constructor(
    readonly binary: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot run ${JSON.stringify(binary)}: redis-server is not installed or not on PATH. ` +
        'Install it (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) ' +
        'or set ROTA_REDIS_URL / --redis-url to an existing Redis.',
      options,
    );
  }
}

/** `redis-server` started but did not become ready; `output` is the tail of its log. */
export class RedisServerStartError extends Error {
  override readonly name = 'RedisServerStartError';

  constructor(
    readonly code: 'port_in_use' | 'exited' | 'timeout' | 'spawn_failed',
    message: string,
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super(
      output === '' ? message : `${message}\n--- redis-server output (tail) ---\n${output}`,
      options,
    );
  }
}

const HOST = '127.0.0.1';
const OUTPUT_TAIL_CHARS = 4_000;
const STOP_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 500;
const PROBE_INTERVAL_MS = 25;
const FREE_PORT_ATTEMPTS = 5;

interface Settings {
  readonly port: number;
  readonly dir: string;
  readonly appendonly: boolean;
  readonly appendfsync: AppendFsync;
  readonly logFile: string | undefined;
  readonly binary: string;
  readonly startTimeoutMs: number;
}

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
  });
}

export async function startLocalRedis(options: LocalRedisOptions): Promise<LocalRedis> {
  const settings = compileOptions(options);
  await mkdir(settings.dir, { recursive: true });
  if (settings.logFile !== undefined) {
    await mkdir(path.dirname(settings.logFile), { recursive: true });
  }
  if (settings.port !== 0) {
    return new LocalRedisServer(settings, settings.port, await launch(settings, settings.port));
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return new LocalRedisServer(settings, port, await launch(settings, port));
    } catch (error) {
      const portTaken = error instanceof RedisServerStartError && error.code === 'port_in_use';
      if (!portTaken || attempt >= FREE_PORT_ATTEMPTS) throw error;
    }
  }
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One spawned child. `exited` settles when it is gone (or never started). */
interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
}

class LocalRedisServer implements LocalRedis {
  readonly url: string;
  #child: Child | undefined;
  #starting = false;

  constructor(
    private readonly settings: Settings,
    readonly port: number,
    child: Child,
  ) {
    this.url = `redis://${HOST}:${port}`;
    this.#child = child;
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
      this.#child = await launch(this.settings, this.port);
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
    if (this.#child === child) this.#child = undefined;
  }
}

/** Spawns one child on `port` and resolves once it answers PING; on failure it is gone. */
async function launch(settings: Settings, port: number): Promise<Child> {
  const output = new OutputTail(settings.logFile);
  await output.markStart();
  // prettier-ignore
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--protected-mode', 'yes',
    '--daemonize', 'no',
    '--save', '',
    '--dir', settings.dir,
    '--appendonly', settings.appendonly ? 'yes' : 'no',
    '--appendfsync', settings.appendfsync,
    '--logfile', settings.logFile ?? '',
  ];
  const proc = spawn(settings.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let spawnError: NodeJS.ErrnoException | undefined;
  const child: Child = {
    process: proc,
    exit: undefined,
    exited: new Promise<Exit>((resolve) => {
      proc.once('exit', (code, signal) => resolve((child.exit = { code, signal })));
      proc.once('error', (error) => {
        spawnError ??= error;
        if (proc.pid === undefined) resolve((child.exit = { code: null, signal: null }));
      });
    }),
  };
  proc.stdout?.setEncoding('utf8').on('data', (text: string) => output.append(text));
  proc.stderr?.setEncoding('utf8').on('data', (text: string) => output.append(text));
  trackUntilExit(child);

  const where = `${HOST}:${port} (dir ${settings.dir})`;
  const deadline = Date.now() + settings.startTimeoutMs;
  for (;;) {
    const error = spawnError;
    if (error?.code === 'ENOENT') {
      throw new RedisServerMissingError(settings.binary, { cause: error });
    }
    if (error !== undefined && proc.pid === undefined) {
      const message = `cannot run ${settings.binary}: ${error.message}`;
      throw new RedisServerStartError('spawn_failed', message, '', { cause: error });
    }
    if (child.exit !== undefined) {
      const tail = await output.tail();
      const code = /address already in use/i.test(tail) ? 'port_in_use' : 'exited';
      const how = child.exit.signal ?? `code ${child.exit.code}`;
      const why = code === 'port_in_use' ? `port ${port} is already in use` : `exited (${how})`;
      throw new RedisServerStartError(
        code,
        `redis-server on ${where} ${why} before answering PING`,
        tail,
      );
    }
    if (Date.now() >= deadline) {
      proc.kill('SIGKILL');
      await child.exited;
      throw new RedisServerStartError(
        'timeout',
        `redis-server on ${where} did not answer PING within ${settings.startTimeoutMs} ms`,
        await output.tail(),
      );
    }
    const answer = await Promise.race([probe(port), child.exited.then(() => undefined)]);
    if (answer !== undefined && answer.ready && answer.pid === proc.pid) break;
    await sleep(PROBE_INTERVAL_MS);
  }
  unrefChild(proc);
  return child;
}

/** Children still alive, terminated when this process exits. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function trackUntilExit(child: Child): void {
  if (!exitHookInstalled) {
    process.on('exit', terminateLiveChildren);
    exitHookInstalled = true;
  }
  liveChildren.add(child.process);
  void child.exited.then(() => liveChildren.delete(child.process));
}

function terminateLiveChildren(): void {
  for (const child of liveChildren) child.kill('SIGTERM');
}

/** A running child must not keep Node alive: the exit hook stops it. */
function unrefChild(proc: ChildProcess): void {
  proc.unref();
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream instanceof net.Socket) stream.unref();
  }
}

/** Sends `PING` and `INFO server`: ready = `+PONG`; pid = the answering server's process_id. */
function probe(port: number): Promise<{ ready: boolean; pid: number | undefined }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let reply = '';
    const finish = (ready: boolean, pid?: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ready, pid });
    };
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('PING\r\nINFO server\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (reply.includes('\r\n') && !reply.startsWith('+PONG\r\n')) return finish(false);
      const pid = /\r\nprocess_id:(\d+)\r\n/.exec(reply)?.[1];
      if (pid !== undefined) finish(true, Number(pid));
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
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

/** The last few KB of the child's output: its stdout/stderr, plus its log file when it has one. */
class OutputTail {
  #text = '';
  #logOffset = 0;

  constructor(private readonly logFile: string | undefined) {}

  /** Remember where this run's lines start in a log file shared with earlier runs. */
  async markStart(): Promise<void> {
    if (this.logFile === undefined) return;
    this.#logOffset = await fileSize(this.logFile);
  }

  append(text: string): void {
    this.#text = (this.#text + text).slice(-OUTPUT_TAIL_CHARS);
  }

  async tail(): Promise<string> {
    let text = this.#text;
    if (this.logFile !== undefined) text += await readFrom(this.logFile, this.#logOffset);
    return text.slice(-OUTPUT_TAIL_CHARS).trimEnd();
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0; // not written yet
  }
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(offset, size - OUTPUT_TAIL_CHARS);
      const buffer = Buffer.alloc(Math.max(0, size - start));
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
