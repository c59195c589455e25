/**
 * One `redis-server` process: spawned with its command line, ready once it
 * answers PING with its own pid, and sent SIGTERM when this process exits.
 * local-server.ts holds the handle callers keep across processes (the
 * options, the port retries, stop/kill/restart); this file holds what a single
 * process goes through, and the errors that say why one did not start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { OutputTail } from './output-tail.js';

export type AppendFsync = 'always' | 'everysec' | 'no';

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

export const HOST = '127.0.0.1';
const PROBE_TIMEOUT_MS = 500;
const PROBE_INTERVAL_MS = 25;

export interface Settings {
  readonly port: number;
  readonly dir: string;
  readonly appendonly: boolean;
  readonly appendfsync: AppendFsync;
  readonly logFile: string | undefined;
  readonly binary: string;
  readonly startTimeoutMs: number;
  /** A process group of its own: a terminal's Ctrl-C does not reach it. */
  readonly detached: boolean;
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One spawned child. `exited` settles when it is gone (or never started). */
export interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
}

/** Called with a child's pid as soon as it is spawned, before it is ready; a failure stops it. */
export type OnSpawn = (pid: number, port: number) => Promise<void>;

/** Spawns one child on `port` and resolves once it answers PING; on failure it is gone. */
export async function launch(settings: Settings, port: number, onSpawn?: OnSpawn): Promise<Child> {
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
  const proc = spawn(settings.binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: settings.detached,
  });
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
  if (onSpawn !== undefined && proc.pid !== undefined) {
    try {
      await onSpawn(proc.pid, port);
    } catch (error) {
      proc.kill('SIGKILL');
      await child.exited;
      throw error;
    }
  }

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
