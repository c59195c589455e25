/**
 * One Redis and one broker per test file, torn down after it, with typed
 * promise wrappers of the raw RPCs. Every RawWorker opened through it is
 * dropped at the end, so no stream outlives its file.
 */
import { afterAll, beforeAll } from 'vitest';
import type { EnqueueRequest } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueResponse__Output } from '../../src/generated/rota/v1/EnqueueResponse.js';
import type { EnqueueBatchResponse__Output } from '../../src/generated/rota/v1/EnqueueBatchResponse.js';
import type { Job__Output } from '../../src/generated/rota/v1/Job.js';
import type { CancelJobResponse__Output } from '../../src/generated/rota/v1/CancelJobResponse.js';
import type { ListDeadLettersResponse__Output } from '../../src/generated/rota/v1/ListDeadLettersResponse.js';
import type { DeleteDeadLettersRequest } from '../../src/generated/rota/v1/DeleteDeadLettersRequest.js';
import type { DeleteDeadLettersResponse__Output } from '../../src/generated/rota/v1/DeleteDeadLettersResponse.js';
import type { ListJobsRequest } from '../../src/generated/rota/v1/ListJobsRequest.js';
import type { ListJobsResponse__Output } from '../../src/generated/rota/v1/ListJobsResponse.js';
import type { PurgeQueueRequest } from '../../src/generated/rota/v1/PurgeQueueRequest.js';
import type { PurgeQueueResponse__Output } from '../../src/generated/rota/v1/PurgeQueueResponse.js';
import type { ReplayDeadLettersRequest } from '../../src/generated/rota/v1/ReplayDeadLettersRequest.js';
import type { ReplayDeadLettersResponse__Output } from '../../src/generated/rota/v1/ReplayDeadLettersResponse.js';
import type { ListDeadLettersRequest } from '../../src/generated/rota/v1/ListDeadLettersRequest.js';
import type { Hello } from '../../src/generated/rota/v1/Hello.js';
import type { Tenant, Tenant__Output } from '../../src/generated/rota/v1/Tenant.js';
import type { GetStatsRequest } from '../../src/generated/rota/v1/GetStatsRequest.js';
import type { Stats__Output } from '../../src/generated/rota/v1/Stats.js';
import {
  call,
  eventually,
  rawClients,
  startTestBroker,
  type TestBroker,
  type TestBrokerOptions,
} from './broker.js';
import { RawWorker } from './raw-worker.js';
import { startTestRedis, type TestRedis, type TestRedisOptions } from './redis.js';

export interface Harness {
  readonly redis: TestRedis;
  readonly broker: TestBroker;
  enqueue(request: EnqueueRequest): Promise<EnqueueResponse__Output>;
  enqueueBatch(jobs: EnqueueRequest[]): Promise<EnqueueBatchResponse__Output>;
  getJob(tenant: string, jobId: string): Promise<Job__Output>;
  /** Waits until the job is in `state`, and returns it. */
  waitState(tenant: string, jobId: string, state: string, timeoutMs?: number): Promise<Job__Output>;
  cancel(tenant: string, jobId: string): Promise<CancelJobResponse__Output>;
  listDead(request: ListDeadLettersRequest): Promise<ListDeadLettersResponse__Output>;
  replay(request: ReplayDeadLettersRequest): Promise<ReplayDeadLettersResponse__Output>;
  purge(request: PurgeQueueRequest): Promise<PurgeQueueResponse__Output>;
  listJobs(request: ListJobsRequest): Promise<ListJobsResponse__Output>;
  deleteDead(request: DeleteDeadLettersRequest): Promise<DeleteDeadLettersResponse__Output>;
  setTenant(tenant: Tenant): Promise<Tenant__Output>;
  getTenant(tenant: string): Promise<Tenant__Output>;
  listTenants(): Promise<Tenant__Output[]>;
  stats(request: GetStatsRequest): Promise<Stats__Output>;
  /** A raw worker that heartbeats unless `heartbeat: false`. */
  worker(hello: Hello, options?: { heartbeat?: boolean }): Promise<RawWorker>;
  /** Replaces the broker by a new one on the same Redis and key prefix (after a kill or shutdown). */
  restartBroker(): Promise<void>;
  /** Another broker on the same Redis and key prefix, on a port of its own; the caller stops it. */
  startPeer(overrides?: Partial<TestBrokerOptions>): Promise<TestBroker>;
}

export function useBroker(
  options: Omit<TestBrokerOptions, 'redisUrl'> = {},
  redisOptions: TestRedisOptions = {},
): Harness {
  let redis: TestRedis;
  let broker: TestBroker;
  let clients: ReturnType<typeof rawClients>;
  const workers: RawWorker[] = [];

  beforeAll(async () => {
    redis = await startTestRedis(redisOptions);
    broker = await startTestBroker({ redisUrl: redis.url, ...options });
    clients = rawClients(broker.address);
  });

  afterAll(async () => {
    for (const worker of workers) worker.drop();
    clients?.close();
    await broker?.shutdown();
    await redis?.dispose();
  });

  const harness: Harness = {
    get redis() {
      return redis;
    },
    get broker() {
      return broker;
    },
    enqueue: (request) => call(clients.broker.Enqueue.bind(clients.broker), request),
    enqueueBatch: (jobs) => call(clients.broker.EnqueueBatch.bind(clients.broker), { jobs }),
    getJob: (tenant, job_id) =>
      call(clients.broker.GetJob.bind(clients.broker), { tenant, job_id }),
    waitState: (tenant, jobId, state, timeoutMs = 10_000) =>
      eventually(
        async () => {
          const job = await harness.getJob(tenant, jobId);
          return job.state === state ? job : undefined;
        },
        { timeoutMs },
      ),
    cancel: (tenant, job_id) =>
      call(clients.broker.CancelJob.bind(clients.broker), { tenant, job_id }),
    listDead: (request) => call(clients.admin.ListDeadLetters.bind(clients.admin), request),
    replay: (request) => call(clients.admin.ReplayDeadLetters.bind(clients.admin), request),
    purge: (request) => call(clients.admin.PurgeQueue.bind(clients.admin), request),
    listJobs: (request) => call(clients.admin.ListJobs.bind(clients.admin), request),
    deleteDead: (request) => call(clients.admin.DeleteDeadLetters.bind(clients.admin), request),
    setTenant: (tenant) => call(clients.admin.SetTenant.bind(clients.admin), { tenant }),
    getTenant: (tenant) => call(clients.admin.GetTenant.bind(clients.admin), { tenant }),
    listTenants: async () =>
      (await call(clients.admin.ListTenants.bind(clients.admin), {})).tenants,
    stats: (request) => call(clients.admin.GetStats.bind(clients.admin), request),
    async worker(hello, options) {
      const worker = await RawWorker.connect(broker.address, hello, options);
      workers.push(worker);
      return worker;
    },
    async restartBroker() {
      clients.close();
      broker = await harness.startPeer();
      clients = rawClients(broker.address);
    },
    startPeer: (overrides = {}) =>
      startTestBroker({
        ...broker.config,
        redisUrl: redis.url,
        grpcAddress: '127.0.0.1:0',
        ...overrides,
      }),
  };
  return harness;
}

/**
 * A second broker (B) on the harness's Redis and key prefix, started once per
 * file; `worker` connects a raw worker to it, dropped with B at the end.
 */
export function usePeer(h: Harness): {
  readonly broker: TestBroker;
  worker(queues: string[], capacity?: number): Promise<RawWorker>;
  /** Drops the worker with B at the end (one connected by hand). */
  keep(worker: RawWorker): RawWorker;
  /** A raw worker on B (capacity 1) whose Hello re-attaches `lease` of `tenant`, kept until B stops. */
  reattach(
    queue: string,
    tenant: string,
    lease: { job_id: string; lease_token: string },
  ): Promise<RawWorker>;
} {
  let peer: TestBroker | undefined;
  const workers: RawWorker[] = [];
  beforeAll(async () => {
    peer = await h.startPeer();
  });
  afterAll(async () => {
    for (const worker of workers) worker.drop();
    await peer?.shutdown();
  });
  const keep = (worker: RawWorker): RawWorker => {
    workers.push(worker);
    return worker;
  };
  return {
    get broker() {
      if (peer === undefined) throw new Error('no peer broker: use it inside a test');
      return peer;
    },
    keep,
    worker: async (queues, capacity = 10) =>
      keep(await RawWorker.connect(peer!.address, { queues, capacity })),
    reattach: async (queue, tenant, { job_id, lease_token }) =>
      keep(
        await RawWorker.connect(peer!.address, {
          queues: [queue],
          capacity: 1,
          in_flight: [{ job_id, lease_token, tenant }],
        }),
      ),
  };
}
