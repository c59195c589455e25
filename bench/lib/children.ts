/**
 * Every process the bench starts goes through here, so none outlives the run:
 * `stopAll()` ends them (SIGTERM, then SIGKILL after a grace), and a process
 * `exit` hook SIGKILLs whatever is still alive. Agents also exit on their own
 * when the IPC channel closes; the broker exits when its stdin closes (see
 * exit-with-parent.ts), which covers a SIGKILLed orchestrator.
 */
import { fork, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { AgentReply, ProducerAgentApi, WorkerAgentApi } from '../agents/protocol.js';

const live = new Set<ChildProcess>();
let hookInstalled = false;

function track(child: ChildProcess): void {
  if (!hookInstalled) {
    hookInstalled = true;
    process.on('exit', () => {
      for (const proc of live) proc.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM, then SIGKILL when it has not exited after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((child) => terminate(child, graceMs)));
}

export function spawnTracked(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  track(child);
  return child;
}

export type AgentKind = 'rota-worker' | 'rota-producer' | 'bullmq-worker' | 'bullmq-producer';

type ApiOf<K extends AgentKind> = K extends 'rota-worker' | 'bullmq-worker'
  ? WorkerAgentApi
  : ProducerAgentApi;

/** A forked agent and a typed call() over its IPC channel. */
export class Agent<K extends AgentKind = AgentKind> {
  #nextId = 1;
  readonly #pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >();

  private constructor(
    readonly kind: K,
    readonly child: ChildProcess,
  ) {
    child.on('message', (reply: AgentReply) => {
      const waiter = this.#pending.get(reply.id);
      if (waiter === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(new Error(`${kind} agent: ${reply.error}`));
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.#pending.values()) {
        waiter.reject(new Error(`${kind} agent exited (${signal ?? `code ${code}`})`));
      }
      this.#pending.clear();
    });
  }

  /** Forks the agent and resolves once it listens (it sends reply id 0 when ready). */
  static async fork<K extends AgentKind>(kind: K, timeoutMs = 30_000): Promise<Agent<K>> {
    const file = fileURLToPath(new URL(`../agents/${kind}.ts`, import.meta.url));
    const child = fork(file, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    track(child);
    const agent = new Agent(kind, child);
    await agent.#ready(timeoutMs).catch(async (error: unknown) => {
      await terminate(child, 1000);
      throw error;
    });
    return agent;
  }

  #ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.kind} agent did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#pending.set(0, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  call<C extends keyof ApiOf<K> & string>(
    cmd: C,
    args: ApiOf<K>[C] extends (args: infer A) => unknown ? A : never,
    timeoutMs = 300_000,
  ): ApiOf<K>[C] extends (args: never) => Promise<infer R> ? Promise<R> : never {
    const id = this.#nextId++;
    const promise = new Promise<unknown>((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error(`${this.kind} agent is not running`));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.kind} agent: ${cmd} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ id, cmd, args });
    });
    return promise as never;
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await terminate(this.child, 3000);
  }
}
