/**
 * A Rota broker as a child process: `node --single-threaded-gc --import tsx
 * src/cli.ts` (what `npm start` runs, without tsx's extra wrapper process, so
 * the pid we hold is the broker's own and /proc figures are the broker's), or
 * with --compiled, `node --single-threaded-gc <tsc output>/src/cli.js`.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';

import type { AdminClient } from '../../src/generated/rota/v1/Admin.js';
import type { Tenant } from '../../src/generated/rota/v1/Tenant.js';
import { loadRotaProto } from '../../src/grpc/proto.js';
import { freePort } from '../../src/redis/local-server.js';
import { EVENT_LOOP_SAMPLE_MS } from '../../src/telemetry/event-loop-delay.js';
import { exited, spawnTracked, terminate } from './children.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Preloaded into the broker: the bench holds the child's stdin open, so its end
 * means the bench is gone (even SIGKILLed); the broker then stops as on SIGTERM
 * (gracefully, so a --cpu-prof profile is still written). A data: URL, so it
 * needs no loader and touches no file of the tree under test.
 */
const EXIT_WITH_PARENT =
  'data:text/javascript,' +
  encodeURIComponent(
    "const stop = () => process.kill(process.pid, 'SIGTERM');" +
      "process.stdin.on('end', stop); process.stdin.on('error', stop); process.stdin.resume();",
  );

/**
 * Preloaded with `heapProbe` (and node --expose-gc): over the IPC channel, a
 * `heap` message collects garbage and answers with process.memoryUsage(). A
 * bench-side hook, as EXIT_WITH_PARENT: the broker itself has none. Two full
 * collections, so objects freed by the first one's finalizers go too. The
 * channel is unref'd: it must not keep a broker alive that would exit.
 */
const HEAP_PROBE =
  'data:text/javascript,' +
  encodeURIComponent(
    "process.on('message', (m) => { if (m !== 'heap') return;" +
      ' globalThis.gc(); globalThis.gc(); process.send({ heap: process.memoryUsage() }); });' +
      ' process.channel?.unref();',
  );

/**
 * The MALLOC_MMAP_THRESHOLD_ that `npm start` gives the broker (package.json;
 * README, Development): the bench measures the broker as it is run.
 */
export const BROKER_MMAP_THRESHOLD = 131_072;

/** The node flags `npm start` gives the broker (package.json; README, Development). */
export const BROKER_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

export interface BrokerProcessOptions {
  /** Run this compiled cli.js with plain node instead of src/cli.ts under tsx. */
  compiledCli?: string;
  /** Tree whose src/cli.ts runs (a --rev snapshot). @default this repository */
  root?: string;
  redisUrl: string;
  keyPrefix: string;
  /** ROTA_COMPLETED_RETENTION_MS (0 = completed jobs are deleted at once). */
  completedRetentionMs: number;
  /**
   * glibc's MALLOC_MMAP_THRESHOLD_ for the broker, in bytes; 0 leaves glibc's
   * own sliding threshold. @default BROKER_MMAP_THRESHOLD, as `npm start`
   */
  mmapThreshold?: number;
  /** Leave out BROKER_NODE_FLAGS: V8 collects garbage with its helper threads, node's default. */
  parallelGc?: boolean;
  /** Write a V8 CPU profile (node --cpu-prof) into this folder when the broker exits. */
  cpuProfileDir?: string;
  /** Makes `heap()` work: node --expose-gc and an IPC channel to the broker (see HEAP_PROBE). */
  heapProbe?: boolean;
  /** More environment for the broker (ROTA_* settings), over the bench's own. */
  env?: Readonly<Record<string, string>>;
  startTimeoutMs?: number;
}

export interface LoopDelay {
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface BrokerProcess {
  readonly address: string;
  readonly keyPrefix: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly admin: AdminClient;
  /** Admin.SetTenant; resolves with the stored tenant. */
  setTenant(tenant: Tenant): Promise<void>;
  /**
   * The broker's event-loop delay since the previous call, beyond the 10 ms
   * sampling period (its Prometheus endpoint; the runtime metrics restart at
   * each scrape, and only the bench scrapes). Call it once at a phase's start
   * and read it at its end. Undefined when the broker does not report it (a
   * --rev of older code) or too few samples were taken.
   */
  eventLoopDelay(): Promise<LoopDelay | undefined>;
  /** With `heapProbe`: the broker's process.memoryUsage() right after a full garbage collection. */
  heap(): Promise<NodeJS.MemoryUsage>;
  /** Graceful stop (SIGTERM), SIGKILL after a grace. */
  stop(): Promise<void>;
}

/** The broker could not bind a port freePort() had found free (see startRotaBroker). */
class PortTakenError extends Error {}

/**
 * Starts a broker on two ports freePort() found free. Another process can take
 * such a port before the broker binds it (an outgoing connection gets its local
 * port from the same range), which once failed a bench run; the broker then
 * exits with EADDRINUSE and starts again on new ports, up to three times.
 */
export async function startRotaBroker(options: BrokerProcessOptions): Promise<BrokerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 3) throw error;
    }
  }
}

async function startOnce(options: BrokerProcessOptions): Promise<BrokerProcess> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  // The broker's Prometheus endpoint stays on (the default), on a free port of its own.
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const mmapThreshold = options.mmapThreshold ?? BROKER_MMAP_THRESHOLD;
  const nodeArgs = [
    ...(options.parallelGc === true ? [] : BROKER_NODE_FLAGS),
    ...(options.cpuProfileDir === undefined
      ? []
      : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir]),
    ...(options.heapProbe === true ? ['--expose-gc', '--import', HEAP_PROBE] : []),
    '--import',
    EXIT_WITH_PARENT,
    ...(options.compiledCli === undefined
      ? ['--import', 'tsx', 'src/cli.ts']
      : [options.compiledCli]),
  ];
  const child = spawnTracked(process.execPath, nodeArgs, {
    cwd: options.root ?? REPO_ROOT,
    stdio: options.heapProbe === true ? ['pipe', 'pipe', 'pipe', 'ipc'] : ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      ROTA_REDIS_URL: options.redisUrl,
      ROTA_GRPC_ADDRESS: address,
      ROTA_LOG_LEVEL: 'warn',
      ROTA_KEY_PREFIX: options.keyPrefix,
      ROTA_METRICS_ADDRESS: metricsAddress,
      ROTA_COMPLETED_RETENTION_MS: String(options.completedRetentionMs),
      // undefined: not passed on (spawn skips it), so glibc slides its own threshold
      MALLOC_MMAP_THRESHOLD_: mmapThreshold > 0 ? String(mmapThreshold) : undefined,
      ...options.env,
    },
  });
  let output = '';
  const onOutput = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-4000);
    for (const line of text.split('\n')) {
      if (line.trim() !== '') process.stderr.write(`  [broker] ${line.slice(0, 400)}\n`);
    }
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);

  const { Admin } = loadRotaProto().rota.v1;
  const admin = new Admin(address, grpc.credentials.createInsecure());
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const childExited = exited(child);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        // Its last output can arrive after 'exit': wait for 'close' (at most 1 s).
        await Promise.race([
          new Promise((resolve) => child.once('close', resolve)),
          new Promise((resolve) => setTimeout(resolve, 1000)),
        ]);
        const message = `the broker exited before it listened:\n${output}`;
        throw /EADDRINUSE/.test(output) ? new PortTakenError(message) : new Error(message);
      }
      if (Date.now() > deadline) {
        throw new Error(`the broker did not answer within ${timeoutMs} ms:\n${output}`);
      }
      const ok = await new Promise<boolean>((resolve) => {
        admin.GetTenant({ tenant: 'bench-probe' }, { deadline: Date.now() + 500 }, (error) =>
          resolve(error === null),
        );
      });
      if (ok) break;
      await Promise.race([new Promise((r) => setTimeout(r, 100)), childExited]);
    }
  } catch (error) {
    admin.close();
    await terminate(child, 2000);
    throw error;
  }

  return {
    address,
    keyPrefix: options.keyPrefix,
    pid: child.pid ?? 0,
    child,
    admin,
    setTenant: (tenant) =>
      new Promise<void>((resolve, reject) => {
        admin.SetTenant({ tenant }, { deadline: Date.now() + 10_000 }, (error) =>
          error === null ? resolve() : reject(error),
        );
      }),
    eventLoopDelay: () => scrapeLoopDelay(`http://${metricsAddress}/metrics`),
    heap: () => probeHeap(child),
    async stop() {
      admin.close();
      child.stdin?.end();
      await terminate(child, 10_000);
    },
  };
}

function probeHeap(child: ChildProcess): Promise<NodeJS.MemoryUsage> {
  if (!child.connected) {
    return Promise.reject(new Error('no IPC channel to the broker: start it with heapProbe'));
  }
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      const heap = (message as { heap?: NodeJS.MemoryUsage } | null)?.heap;
      if (heap === undefined) return;
      child.off('exit', onExit);
      child.off('message', onMessage);
      resolve(heap);
    };
    const onExit = (): void => {
      child.off('message', onMessage);
      reject(new Error('the broker exited before it answered the heap probe'));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send('heap');
  });
}

async function scrapeLoopDelay(url: string): Promise<LoopDelay | undefined> {
  const text = await (await fetch(url)).text();
  const seconds = (name: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };
  // The figures include the sampling period (EVENT_LOOP_SAMPLE_MS): report the delay beyond it.
  const beyondSampling = (value: number): number =>
    Math.max(0, value * 1000 - EVENT_LOOP_SAMPLE_MS);
  const p99 = seconds('nodejs_eventloop_delay_p99');
  const max = seconds('nodejs_eventloop_delay_max');
  return p99 === undefined || max === undefined
    ? undefined
    : { p99Ms: beyondSampling(p99), maxMs: beyondSampling(max) };
}
