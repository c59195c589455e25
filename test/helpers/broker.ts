/**
 * A real broker in this process, on a free port of 127.0.0.1, with short lease
 * timings and a key prefix of its own, talking to a test Redis.
 */
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import type { Broker } from '../../src/broker/broker.js';
import { loadConfig, type BrokerConfig } from '../../src/config.js';
import { loadRotaProto } from '../../src/grpc/proto.js';
import { startBroker, type RunningBroker } from '../../src/server.js';
import type { BrokerClient } from '../../src/generated/rota/v1/Broker.js';
import type { AdminClient } from '../../src/generated/rota/v1/Admin.js';
import { uniquePrefix } from './redis.js';

export interface TestBrokerOptions extends Partial<BrokerConfig> {
  redisUrl: string;
  /**
   * Gets each line the broker logs at warn or above (or at logLevel, when that
   * is lower), parsed; without it the broker logs at ROTA_TEST_LOG_LEVEL.
   * A peer copies its first broker's config, `logLevel: 'silent'` among it.
   */
  onLog?: (line: Record<string, unknown>) => void;
}

export type TestBroker = RunningBroker & { readonly config: BrokerConfig };

export async function startTestBroker({
  onLog,
  ...options
}: TestBrokerOptions): Promise<TestBroker> {
  const config = loadConfig({}, [], {
    grpcAddress: '127.0.0.1:0',
    keyPrefix: uniquePrefix(),
    leaseTtlMs: 1500,
    heartbeatIntervalMs: 300,
    logLevel: process.env.ROTA_TEST_LOG_LEVEL ?? 'silent',
    metricsAddress: undefined,
    ...options,
  });
  const logger = onLog
    ? pino(
        { level: lowerLevel(options.logLevel, 'warn') },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            for (const line of chunk.toString().split('\n')) {
              if (line) onLog(JSON.parse(line) as Record<string, unknown>);
            }
            done();
          },
        }),
      )
    : pino({ level: config.logLevel });
  const running = await startBroker(config, logger);
  return Object.assign(running, { config });
}

/**
 * Starts the broker's graceful shutdown as it stores the next batch of jobs
 * (read, not answered yet). Batches it begins to store after that are stored,
 * but answered only once the shutdown is over, as a busy broker's would be: an
 * enqueue stream the shutdown leaves open has unanswered batches when the
 * forced close cuts it. Resolves when the shutdown is over.
 */
export function shutdownWhileStoring(running: TestBroker, graceMs?: number): Promise<void> {
  const broker = running.broker as { enqueue: Broker['enqueue'] };
  const store = broker.enqueue;
  return new Promise((resolve, reject) => {
    let stopped: Promise<void> | undefined;
    broker.enqueue = (inputs) => {
      if (stopped !== undefined) {
        const over = stopped;
        return store(inputs).then((outcomes) => over.then(() => outcomes));
      }
      stopped = running.shutdown(graceMs);
      stopped.then(resolve, reject);
      return store(inputs);
    };
  });
}

/**
 * Starts a test broker expecting the start to fail: the error, or undefined
 * when it started (then it is shut down again).
 */
export function startError(options: TestBrokerOptions): Promise<Error | undefined> {
  return startTestBroker(options).then(
    async (broker) => {
      await broker.shutdown();
      return undefined;
    },
    (error: unknown) => error as Error,
  );
}

/** Raw gRPC stubs, for tests of the wire contract itself. */
export function rawClients(address: string): {
  broker: BrokerClient;
  admin: AdminClient;
  close(): void;
} {
  const { rota } = loadRotaProto();
  const credentials = grpc.credentials.createInsecure();
  const broker = new rota.v1.Broker(address, credentials);
  const admin = new rota.v1.Admin(address, credentials);
  return {
    broker,
    admin,
    close() {
      broker.close();
      admin.close();
    },
  };
}

/** Promisifies one unary call of a raw stub. */
export function call<Req, Res>(
  method: (
    request: Req,
    callback: (error: grpc.ServiceError | null, response?: Res) => void,
  ) => unknown,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, (error, response) => (error ? reject(error) : resolve(response as Res)));
  });
}

/** Polls until `check` returns a value other than undefined (tests wait on state, not on time). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10_000, intervalMs = 20 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`condition not met within ${timeoutMs} ms`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function lowerLevel(a: string | undefined, b: string): string {
  const { values } = pino.levels;
  return a !== undefined && (values[a] ?? Infinity) < (values[b] ?? Infinity) ? a : b;
}
