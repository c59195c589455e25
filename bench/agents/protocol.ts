/**
 * The IPC contract between the bench orchestrator (`bench/run.ts`) and its agent
 * processes. Every agent is a small entry under `bench/agents/` forked with tsx;
 * the parent sends `{ id, cmd, args }`, the agent answers `{ id, ok, value | error }`.
 *
 * Time: every timestamp is `monoMs()` (CLOCK_MONOTONIC, shared by every process
 * of the machine), so a stamp taken by the producer process can be subtracted
 * from one taken by the worker process.
 */

/** Milliseconds on the machine-wide monotonic clock (sub-µs resolution). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** What a bench job carries: its enqueue time, and its tenant for BullMQ (which has none). */
export interface BenchPayload {
  /** monoMs() when enqueue()/add() was called; 0 when not stamped. */
  t: number;
  /** Tenant (BullMQ only; Rota jobs carry it themselves). */
  k?: string;
}

/**
 * The family of a tenant: its name without a trailing `-<digits>`, so the ten quiet
 * tenants `quiet-0`…`quiet-9` are reported as one group `quiet`.
 */
export function familyOf(tenant: string): string {
  return tenant.replace(/-\d+$/, '');
}

export interface WorkerStartArgs {
  /**
   * Rota broker host:port (Rota agent); several, comma-separated: worker
   * instance i connects to the (i mod n)-th.
   */
  address?: string;
  /** Redis URL: BullMQ's connection, and the Rota agent's keyspace listener. */
  redisUrl?: string;
  /** BullMQ key prefix. */
  prefix?: string;
  queue: string;
  /** Worker instances in this process. */
  workers: number;
  /** Jobs in flight per worker instance. */
  concurrency: number;
  /**
   * Rota only: each worker instance on an HTTP/2 connection of its own, as
   * workers in processes of their own are (by default grpc-js puts the
   * streams of one process's instances on one shared connection).
   */
  ownConnections?: boolean;
  /** `noop`: return at once. `hold`: never finish until stop (memory scenario). */
  mode: 'noop' | 'hold';
  /** Keep per-job latency samples (enqueue → start / ack / completed). */
  recordLatency: boolean;
  /** Width of a timeline bucket (per-family dispatch counts over time). */
  bucketMs: number;
  /**
   * Rota only: also stamp when Redis marked the job completed (the keyspace `del`
   * or `expire` event of the job hash, which the complete script deletes or
   * sets to expire). Needs redisUrl.
   */
  durableSignal?: boolean;
}

export interface LatencySamples {
  /** Enqueue stamps (monoMs), one per job. */
  t: number[];
  /** enqueue → handler start, ms. */
  start: number[];
  /** enqueue → completed, ms: BullMQ's `completed` event; Rota: the job marked completed in Redis (NaN when unseen). */
  done: number[];
  /** Rota only: enqueue → the ack handed to the Work stream (after the worker's ack flush), ms. */
  ack: number[];
}

export interface WorkerSnapshot {
  started: number;
  completed: number;
  errors: number;
  /** monoMs of the first handler start since the last reset (0 = none). */
  firstStartAt: number;
  /** monoMs of the last handler start since the last reset (0 = none). */
  lastStartAt: number;
  /** monoMs of the last completion since the last reset (0 = none). */
  lastDoneAt: number;
  /** monoMs of the last reset: the origin of the timeline. */
  since: number;
  perTenant: Record<string, number>;
  /** Per family: handler starts, and the monoMs of the first and the last. */
  families: Record<string, { count: number; firstAt: number; lastAt: number }>;
  /** Dispatches (handler starts) per family, per bucket since `since`. */
  timeline: { bucketMs: number; buckets: Array<Record<string, number>> };
  /** Per family (only when recordLatency). */
  latency: Record<string, LatencySamples>;
}

export interface WorkerAgentApi {
  start(args: WorkerStartArgs): Promise<{ pid: number }>;
  /** Counters since the last reset; `reset` starts a new window. */
  snapshot(args: { reset?: boolean; withLatency?: boolean }): Promise<WorkerSnapshot>;
  /** Resolves once `completed` (since the last reset) reaches the count, or at the timeout. */
  waitFor(args: { completed: number; timeoutMs: number }): Promise<{ reached: boolean }>;
  stop(args: Record<string, never>): Promise<void>;
}

export interface ProducerStartArgs {
  address?: string;
  redisUrl?: string;
  prefix?: string;
  queue: string;
  /** Producer instances (Rota: Producer objects; BullMQ: Queue objects). */
  producers: number;
}

export interface BurstArgs {
  total: number;
  /** `single`: enqueue()/add() per job; `batch`: enqueueBatch()/addBulk(). */
  mode: 'single' | 'batch';
  /** Calls (single) or batches (batch) outstanding per producer instance. */
  inflight: number;
  batchSize: number;
  /** Jobs go round-robin over these tenants (in blocks of `tenantRun` consecutive jobs). */
  tenants: string[];
  /** How many consecutive jobs go to one tenant before moving on. @default 1 */
  tenantRun?: number;
  stamp: boolean;
}

export interface BurstResult {
  sent: number;
  errors: number;
  firstError: string;
  startedAt: number;
  finishedAt: number;
}

export interface PacedStream {
  tenant: string;
  /** Jobs per second. */
  rate: number;
}

export interface PacedArgs {
  streams: PacedStream[];
  durationMs: number;
}

export interface PacedResult extends BurstResult {
  /** Worst lag of a send behind its schedule, ms (the producer could not keep the pace). */
  maxLagMs: number;
  /** enqueue() call → its reply, ms, per job. */
  callMs: number[];
}

export interface ProducerAgentApi {
  start(args: ProducerStartArgs): Promise<{ pid: number }>;
  burst(args: BurstArgs): Promise<BurstResult>;
  paced(args: PacedArgs): Promise<PacedResult>;
  stop(args: Record<string, never>): Promise<void>;
}

export type AgentApi = WorkerAgentApi | ProducerAgentApi;

export interface AgentRequest {
  id: number;
  cmd: string;
  args: unknown;
}

export type AgentReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };
