/**
 * Test Redis servers: each call starts a private redis-server on a free port with its own
 * temporary data folder, so test files can run in parallel without sharing state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startLocalRedis,
  type AppendFsync,
  type LocalRedis,
} from '../../src/redis/local-server.js';

export interface TestRedisOptions {
  /** Keep data in an AOF (for restart tests). @default true when appendfsync is given, else false */
  appendonly?: boolean;
  /** AOF fsync policy; giving it turns the AOF on. @default 'everysec' */
  appendfsync?: AppendFsync;
}

export interface TestRedis extends LocalRedis {
  /** Kill the server and delete its data folder. */
  dispose(): Promise<void>;
  /** Kill the server and start it again without its AOF: a restart that lost every key. */
  restartEmpty(): Promise<void>;
}

/** Starts a redis-server on a free port in a fresh temp dir; AOF off unless asked (faster). */
export async function startTestRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rota-test-redis-'));
  const appendonly = options.appendonly ?? options.appendfsync !== undefined;
  let redis: LocalRedis;
  try {
    redis = await startLocalRedis({
      dir,
      appendonly,
      ...(options.appendfsync === undefined ? {} : { appendfsync: options.appendfsync }),
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return Object.assign(redis, {
    async dispose(): Promise<void> {
      await redis.kill();
      await rm(dir, { recursive: true, force: true });
    },
    async restartEmpty(): Promise<void> {
      await redis.kill();
      await rm(path.join(dir, 'appendonlydir'), { recursive: true, force: true });
      await redis.restart();
    },
  });
}

/** A key prefix unique to one test, e.g. `tm3x1k2f9a1b2c3d`, so tests sharing a server never collide. */
export function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}
