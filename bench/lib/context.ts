/**
 * What a scenario gets to work with: the run's Redis, agent processes (kept for
 * the whole run and reused), Rota brokers (one per scenario, with its own key
 * prefix), and the shape of what it reports.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Redis } from 'ioredis';

import type { LocalRedis } from '../../src/redis/local-server.js';
import { Agent, type AgentKind } from './children.js';
import { summariseProfile, type ProfileSummary } from './cpuprofile.js';
import type { Knobs, RunOptions } from './options.js';
import { REPO_ROOT, startRotaBroker, type BrokerProcess } from './rota-broker.js';

export interface Row {
  metric: string;
  unit: string;
  rota: number | null;
  bullmq: number | null;
  /** Which way is better, for reading the Rota/BullMQ ratio. */
  better?: 'higher' | 'lower';
}

export interface TargetCheck {
  /** The target as BASELINES.md states it. */
  target: string;
  /** What was measured, in words and numbers. */
  measured: string;
  /** null = could not be judged in this run. */
  met: boolean | null;
}

export interface Chart {
  name: string;
  svg: string;
}

export interface ScenarioOutput {
  rows: Row[];
  targets: TargetCheck[];
  details: Record<string, unknown>;
  charts: Chart[];
  notes: string[];
}

export interface ScenarioResult extends ScenarioOutput {
  scenario: string;
  startedAt: string;
  wallSeconds: number;
  /** Busy share of the whole machine (all cores) just before the scenario, while the bench idled: other people's work. */
  foreignBusyPercent: number;
  error?: string;
  brokerProfiles: ProfileSummary[];
}

export class BenchContext {
  readonly #agents = new Map<AgentKind, Agent>();
  readonly #brokers = new Set<BrokerProcess>();
  readonly profiles: ProfileSummary[] = [];
  #brokerCount = 0;
  scenario = '';

  constructor(
    readonly options: RunOptions,
    readonly redis: LocalRedis,
    readonly redisClient: Redis,
    /** Timestamp of this run, used in file names and key prefixes. */
    readonly runId: string,
    private readonly deadline: number,
    /** The tree under test (a --rev snapshot), or this repository. */
    readonly root: string = REPO_ROOT,
    /** --compiled: the built broker to run instead of src/cli.ts. */
    private readonly compiled?: { cli: string; dir: string },
  ) {}

  get knobs(): Knobs {
    return this.options.knobs;
  }

  get redisPid(): number {
    return this.redis.pid ?? 0;
  }

  log(message: string): void {
    process.stderr.write(`[${this.scenario}] ${message}\n`);
  }

  /** Milliseconds left before the run's deadline (at least 1 s, so waits stay bounded). */
  remainingMs(): number {
    return Math.max(1000, this.deadline - Date.now());
  }

  /** A wait bound for `jobs` jobs at no less than `minRate` jobs/s, within the run's deadline. */
  boundMs(jobs: number, minRate = 500, floorMs = 30_000): number {
    return Math.min(this.remainingMs(), Math.max(floorMs, (1000 * jobs) / minRate));
  }

  /** The agent of that kind, forked on first use and kept for the run. */
  async agent<K extends AgentKind>(kind: K): Promise<Agent<K>> {
    const existing = this.#agents.get(kind);
    if (existing !== undefined && existing.child.connected) return existing as Agent<K>;
    const agent = await Agent.fork(kind);
    this.#agents.set(kind, agent);
    return agent;
  }

  /**
   * A fresh Rota broker child with a key prefix of its own, or a replica of
   * `peer`: another broker on the same Redis keys.
   */
  async startBroker(peer?: BrokerProcess): Promise<BrokerProcess> {
    this.#brokerCount++;
    const keyPrefix =
      peer?.keyPrefix ?? `bench-${this.scenario}-${this.runId}-${this.#brokerCount}`;
    const cpuProfileDir = this.options.cpuProf
      ? join(this.options.jsonDir, 'profiles', `${keyPrefix}-${this.#brokerCount}`)
      : undefined;
    if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true });
    const broker = await startRotaBroker({
      root: this.compiled?.dir ?? this.root,
      compiledCli: this.compiled?.cli,
      redisUrl: this.redis.url,
      keyPrefix,
      completedRetentionMs: this.knobs.completedRetentionMs,
      mmapThreshold: this.knobs.mmapThreshold,
      parallelGc: this.options.parallelGc,
      cpuProfileDir,
    });
    this.#brokers.add(broker);
    const stop = broker.stop.bind(broker);
    broker.stop = async () => {
      this.#brokers.delete(broker);
      await stop();
      if (cpuProfileDir !== undefined) this.#collectProfiles(cpuProfileDir);
    };
    return broker;
  }

  #collectProfiles(dir: string): void {
    if (!existsSync(dir)) return;
    for (const file of readdirSync(dir)) {
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread
      // (others are tsx's module-loader thread).
      if (!/\.0\.\d+\.cpuprofile$/.test(file)) continue;
      try {
        this.profiles.push(
          summariseProfile(
            join(dir, file),
            `${this.compiled?.dir ?? this.root.replace(/\/$/, '')}/`,
          ),
        );
      } catch (error) {
        this.log(`could not read the profile ${file}: ${String(error)}`);
      }
    }
  }

  /** Stops every broker this scenario started and stops (but keeps) the agents. */
  async endScenario(): Promise<void> {
    await Promise.allSettled(
      [...this.#agents.values()].map((agent) => agent.call('stop', {}, 15_000)),
    );
    await Promise.allSettled([...this.#brokers].map((broker) => broker.stop()));
  }

  /** Empties our private Redis (never any other). */
  async flush(): Promise<void> {
    await this.redisClient.flushall();
  }

  async closeAgents(): Promise<void> {
    await Promise.allSettled([...this.#agents.values()].map((agent) => agent.close()));
    this.#agents.clear();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
