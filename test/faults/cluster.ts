/**
 * A whole Rota deployment made of real processes, for fault injection:
 * a private redis-server, one or more brokers sharing it, each as
 * `node --import tsx src/cli.ts` on a fixed port (so a restarted broker comes
 * back on the same address), worker agent processes (agents/worker-agent.ts),
 * each connected to one broker (or given every broker, from one on), and
 * optionally a TCP proxy per broker the workers connect through. Everything lives in one temp folder (Redis data,
 * process logs, worker journals) and `dispose()` kills and removes it all.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadRotaProto } from '../../src/grpc/proto.js';
import {
  freePort,
  startLocalRedis,
  type AppendFsync,
  type LocalRedis,
} from '../../src/redis/local-server.js';
import { uniquePrefix } from '../helpers/redis.js';
import { readJournals, type JournalRecord } from './journal.js';
import { ProcessGroup, sleep, type ManagedProcess } from './processes.js';
import { TcpProxy } from './proxy.js';

export interface ClusterOptions {
  /** @default 1500 */
  leaseTtlMs?: number;
  /** @default 300 */
  heartbeatIntervalMs?: number;
  /** AOF fsync policy of the redis-server; undefined = no AOF. */
  appendfsync?: AppendFsync;
  /** Put a TCP proxy between workers and broker. @default false */
  proxy?: boolean;
  /** Broker log level. @default 'info' */
  logLevel?: string;
  /** Entry point of the broker process (a debugging wrapper, say). @default 'src/cli.ts' */
  brokerEntry?: string;
  /** Extra broker environment. */
  brokerEnv?: Record<string, string>;
  /** Keep the temp folder (logs) after dispose; so does ROTA_KEEP_LOGS=1. @default false */
  keepDir?: boolean;
  /** Broker processes on the one Redis. @default 1 */
  brokers?: number;
  /** Bearer tokens: the brokers' and those of the cluster's own clients. @default auth off */
  auth?: ClusterAuth;
}

/** A cluster with tokens: the brokers' table and the tokens its own clients send. */
export interface ClusterAuth {
  /** The brokers' ROTA_AUTH_TOKENS. */
  readonly tokens: string;
  /** Of the load generator (fixture.ts). */
  readonly producer: string;
  /** Of the worker agents. */
  readonly worker: string;
  /** Of the checks that read the broker's stats (invariants.ts). */
  readonly admin: string;
}

export interface WorkerAgentOptions {
  /** @default 8 */
  concurrency?: number;
  /** @default ['faults'] */
  queues?: string[];
  /** Run time of a job whose payload has no `ms`. @default 50 */
  defaultMs?: number;
  /** Wait for its first Welcome. @default true */
  waitReady?: boolean;
  /** Index of the broker it connects to. @default 0 */
  broker?: number;
  /**
   * Give it every broker's address, from `broker` on (workerTargetFrom): it
   * connects to the first that answers and fails over to the next. @default false
   */
  spread?: boolean;
}

export interface WorkerAgent {
  readonly name: string;
  /** Index of the broker it connects to (with `spread`, the first it tries). */
  readonly broker: number;
  readonly process: ManagedProcess;
  readonly journal: string;
}

const BROKER_READY_TIMEOUT_MS = 20_000;

export class Cluster {
  readonly group = new ProcessGroup();
  readonly keyPrefix = uniquePrefix();
  readonly workers: WorkerAgent[] = [];
  /** The broker processes by index (the latest start of each). */
  readonly brokers: Array<ManagedProcess | undefined> = [];
  /** The proxy in front of each broker, when `proxy` is set. */
  readonly proxies: TcpProxy[] = [];
  #brokerStarts = 0;
  #workerCount = 0;

  private constructor(
    readonly dir: string,
    readonly redis: LocalRedis,
    readonly brokerPorts: readonly number[],
    private readonly options: ClusterOptions,
  ) {}

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const dir = await mkdtemp(path.join(tmpdir(), 'rota-faults-'));
    let redis: LocalRedis | undefined;
    let cluster: Cluster | undefined;
    try {
      redis = await startLocalRedis({
        dir: path.join(dir, 'redis'),
        appendonly: options.appendfsync !== undefined,
        ...(options.appendfsync ? { appendfsync: options.appendfsync } : {}),
        logFile: path.join(dir, 'redis.log'),
      });
      const ports: number[] = [];
      for (let i = 0; i < (options.brokers ?? 1); i++) ports.push(await freePort());
      cluster = new Cluster(dir, redis, ports, options);
      // Should this process be SIGKILLed, the reaper takes redis-server down with it.
      cluster.group.spawnTs({
        name: 'reaper',
        entry: 'test/faults/agents/reaper.ts',
        logFile: path.join(dir, 'reaper.log'),
        env: { REAPER_REDIS_PORT: String(redis.port) },
        exitWithParent: false,
      });
      for (const port of ports) {
        if (options.proxy) cluster.proxies.push(await TcpProxy.start(port));
      }
      await Promise.all(ports.map((_, index) => cluster!.startBroker(index)));
      return cluster;
    } catch (error) {
      await cluster?.group.killAll();
      await Promise.all(cluster?.proxies.map((proxy) => proxy.close()) ?? []);
      await redis?.kill();
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get auth(): ClusterAuth | undefined {
    return this.options.auth;
  }

  get leaseTtlMs(): number {
    return this.options.leaseTtlMs ?? 1500;
  }

  /** The first broker (the only one unless `brokers` was set). */
  get broker(): ManagedProcess | undefined {
    return this.brokers[0];
  }

  get proxy(): TcpProxy | undefined {
    return this.proxies[0];
  }

  /** Where producers connect: the first broker itself. */
  get brokerAddress(): string {
    return this.brokerAddressOf(0);
  }

  /** Where workers connect: the first broker's proxy when there is one. */
  get workerAddress(): string {
    return this.workerAddressOf(0);
  }

  brokerAddressOf(index: number): string {
    const port = this.brokerPorts[index];
    if (port === undefined) throw new Error(`no broker ${index}`);
    return `127.0.0.1:${port}`;
  }

  workerAddressOf(index: number): string {
    return this.proxies[index]?.address ?? this.brokerAddressOf(index);
  }

  /** Every broker's address as one gRPC target, broker `first` first and the rest in turn after it. */
  brokerTargetFrom(first: number): string {
    return this.#targetFrom(first, (index) => this.brokerAddressOf(index));
  }

  /** As brokerTargetFrom, through the proxies when there are any. */
  workerTargetFrom(first: number): string {
    return this.#targetFrom(first, (index) => this.workerAddressOf(index));
  }

  #targetFrom(first: number, addressOf: (index: number) => string): string {
    const n = this.brokerPorts.length;
    const order = Array.from({ length: n }, (_, i) => addressOf((first + i) % n));
    return `ipv4:${order.join(',')}`;
  }

  /** Starts broker `index` and waits until it answers RPCs. */
  async startBroker(index = 0): Promise<ManagedProcess> {
    if (this.brokers[index]?.alive) throw new Error(`broker ${index} is already running`);
    const address = this.brokerAddressOf(index);
    const n = ++this.#brokerStarts;
    const name = this.brokerPorts.length > 1 ? `broker${index}-${n}` : `broker-${n}`;
    const broker = this.group.spawnTs({
      name,
      entry: this.options.brokerEntry ?? 'src/cli.ts',
      logFile: path.join(this.dir, `${name}.log`),
      env: {
        ROTA_REDIS_URL: this.redis.url,
        ROTA_GRPC_ADDRESS: address,
        ROTA_KEY_PREFIX: this.keyPrefix,
        ROTA_LEASE_TTL_MS: String(this.leaseTtlMs),
        ROTA_HEARTBEAT_INTERVAL_MS: String(this.options.heartbeatIntervalMs ?? 300),
        ROTA_LOG_LEVEL: process.env.ROTA_BROKER_LOG_LEVEL ?? this.options.logLevel ?? 'info',
        ROTA_METRICS_ADDRESS: 'off',
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_SDK_DISABLED: 'true',
        // Debugging aid: ROTA_BROKER_GRPC_TRACE=server_call traces the broker's grpc-js only.
        ...(process.env.ROTA_BROKER_GRPC_TRACE
          ? { GRPC_TRACE: process.env.ROTA_BROKER_GRPC_TRACE, GRPC_VERBOSITY: 'DEBUG' }
          : {}),
        ...(this.options.auth ? { ROTA_AUTH_TOKENS: this.options.auth.tokens } : {}),
        ...this.options.brokerEnv,
      },
    });
    this.brokers[index] = broker;
    await waitBrokerReady(address, broker);
    return broker;
  }

  async killBroker(index = 0): Promise<void> {
    await this.brokers[index]?.kill('SIGKILL');
  }

  async startWorker(options: WorkerAgentOptions = {}): Promise<WorkerAgent> {
    const name = `w${++this.#workerCount}`;
    const journal = path.join(this.dir, `${name}.journal.jsonl`);
    const proc = this.group.spawnTs({
      name,
      entry: 'test/faults/agents/worker-agent.ts',
      logFile: path.join(this.dir, `${name}.log`),
      env: {
        ROTA_ADDRESS: options.spread
          ? this.workerTargetFrom(options.broker ?? 0)
          : this.workerAddressOf(options.broker ?? 0),
        AGENT_NAME: name,
        AGENT_JOURNAL: journal,
        AGENT_QUEUES: (options.queues ?? ['faults']).join(','),
        AGENT_CONCURRENCY: String(options.concurrency ?? 8),
        AGENT_DEFAULT_MS: String(options.defaultMs ?? 50),
        AGENT_HEAL_FILE: this.healFile,
        ...(this.options.auth ? { AGENT_TOKEN: this.options.auth.worker } : {}),
        OTEL_SDK_DISABLED: 'true',
      },
    });
    const agent: WorkerAgent = { name, broker: options.broker ?? 0, process: proc, journal };
    this.workers.push(agent);
    if (options.waitReady ?? true) {
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (readJournals([journal]).some((r) => r.ev === 'ready')) break;
        if (!proc.alive) {
          throw new Error(`worker ${name} exited before its first Welcome:\n${proc.logTail()}`);
        }
        if (Date.now() > deadline) throw new Error(`worker ${name} did not connect in 20 s`);
        await sleep(25);
      }
    }
    return agent;
  }

  /** While this file is missing, the agents fail every attempt of a `poison` job. */
  get healFile(): string {
    return path.join(this.dir, 'poison-healed');
  }

  /** From now on the agents run `poison` jobs as any other (a fix deployed before a replay). */
  async healPoison(): Promise<void> {
    await writeFile(this.healFile, `${Date.now()}\n`);
  }

  /** Every journal record of every worker agent so far, in time order. */
  journal(): JournalRecord[] {
    return readJournals(this.workers.map((w) => w.journal));
  }

  /** Jobs whose handler is running in `agent` right now, per its journal. */
  runningOn(agent: WorkerAgent): string[] {
    const open = new Map<string, number>();
    for (const r of readJournals([agent.journal])) {
      if (r.ev === 'start') open.set(`${r.job}/${r.attempt}`, 1);
      if (r.ev === 'end' || r.ev === 'fail' || r.ev === 'aborted')
        open.delete(`${r.job}/${r.attempt}`);
    }
    return [...open.keys()].map((key) => key.split('/')[0]!);
  }

  /** Kills everything (SIGKILL), removes the temp folder; returns pids that survived. */
  async dispose(): Promise<number[]> {
    await this.group.killAll();
    await Promise.all(this.proxies.map((proxy) => proxy.close()));
    await this.redis.kill();
    const left = this.group.leftovers();
    if (this.redis.pid !== undefined) left.push(this.redis.pid);
    if (!this.options.keepDir && !process.env.ROTA_KEEP_LOGS)
      await rm(this.dir, { recursive: true, force: true });
    return left;
  }

  /** Tails of every process log, for a failure message. */
  logs(chars = 3000): string {
    return this.group.processes
      .map(
        (p) =>
          `--- ${p.name} (pid ${p.pid}, ${p.alive ? 'alive' : 'exited'}) ---\n${p.logTail(chars)}`,
      )
      .join('\n');
  }
}

/** Polls GetJob until the broker answers with anything but UNAVAILABLE; fails when the process exits. */
export async function waitBrokerReady(
  address: string,
  proc?: ManagedProcess,
  timeoutMs = BROKER_READY_TIMEOUT_MS,
): Promise<void> {
  const { Broker } = loadRotaProto().rota.v1;
  const client = new Broker(address, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 50,
    'grpc.max_reconnect_backoff_ms': 100,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (proc && !proc.alive) {
        throw new Error(`${proc.name} exited during start-up:\n${proc.logTail()}`);
      }
      const code = await new Promise<grpc.status>((resolve) => {
        client.GetJob(
          { tenant: 'probe', job_id: 'probe' },
          { deadline: Date.now() + 500 },
          (error) => resolve(error ? error.code : grpc.status.OK),
        );
      });
      if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) return;
      if (Date.now() > deadline) {
        throw new Error(
          `broker at ${address} not ready within ${timeoutMs} ms:\n${proc?.logTail() ?? ''}`,
        );
      }
      await sleep(50);
    }
  } finally {
    client.close();
  }
}
