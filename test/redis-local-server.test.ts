import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { CLAIM_FILE } from '../src/redis/data-dir-claim.js';
import {
  DataDirInUseError,
  RedisServerMissingError,
  RedisServerStartError,
  startLocalRedis,
  type LocalRedis,
} from '../src/redis/local-server.js';
import { startTestRedis, uniquePrefix, type TestRedis } from './helpers/redis.js';

const servers: TestRedis[] = [];
const detached: LocalRedis[] = [];
const clients: Redis[] = [];
const tempDirs: string[] = [];

async function testRedis(options?: Parameters<typeof startTestRedis>[0]): Promise<TestRedis> {
  const redis = await startTestRedis(options);
  servers.push(redis);
  return redis;
}

function connect(redis: LocalRedis): Redis {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  clients.push(client);
  return client;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rota-local-server-'));
  tempDirs.push(dir);
  return dir;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await Promise.all(detached.splice(0).map((redis) => redis.kill()));
  const pids = servers.flatMap((redis) => (redis.pid === undefined ? [] : [redis.pid]));
  await Promise.all(servers.splice(0).map((redis) => redis.dispose()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  expect(pids.filter(isAlive), 'redis-server processes still alive after dispose()').toEqual([]);
});

describe('startLocalRedis', () => {
  it('starts a server on a free port that answers PING, and stops it gracefully', async () => {
    const redis = await testRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.port).toBeGreaterThan(0);
    expect(redis.port).not.toBe(6379);
    const pid = redis.pid;
    expect(pid).toBeTypeOf('number');

    const client = connect(redis);
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
    expect(await client.config('GET', 'bind')).toEqual(['bind', '127.0.0.1']);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    client.disconnect();

    await redis.stop();
    expect(redis.pid).toBeUndefined();
    expect(isAlive(pid!)).toBe(false);
    expect(await refusesConnections(redis.port)).toBe(true);
    await redis.stop(); // idempotent
    await redis.kill();
  });

  it('keeps AOF data across a SIGKILL and a restart on the same port', async () => {
    const redis = await testRedis({ appendfsync: 'always' });
    const key = `${uniquePrefix()}:k`;
    const before = connect(redis);
    await before.connect();
    expect(await before.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await before.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
    await before.set(key, 'survives');
    before.disconnect();

    const { port } = redis;
    const firstPid = redis.pid!;
    await redis.kill();
    expect(redis.pid).toBeUndefined();
    expect(isAlive(firstPid)).toBe(false);

    await redis.restart();
    expect(redis.port).toBe(port);
    expect(redis.pid).toBeTypeOf('number');
    expect(redis.pid).not.toBe(firstPid);
    const after = connect(redis);
    await after.connect();
    expect(await after.get(key)).toBe('survives');
  });

  it('keeps AOF data across a graceful stop and a restart, and restarts a running server', async () => {
    const redis = await testRedis({ appendonly: true });
    const key = `${uniquePrefix()}:k`;
    const client = connect(redis);
    await client.connect();
    await client.set(key, 'kept');
    client.disconnect();

    await redis.stop();
    await redis.restart();
    const pid = redis.pid;
    await redis.restart(); // running: stops gracefully first
    expect(redis.pid).not.toBe(pid);

    const again = connect(redis);
    await again.connect();
    expect(await again.get(key)).toBe('kept');
  });

  it('creates the data folder and writes the log file when asked', async () => {
    const base = await tempDir();
    const dir = path.join(base, 'nested', 'data');
    const logFile = path.join(base, 'logs', 'redis.log');
    const redis = await startLocalRedis({ dir, logFile, appendfsync: 'no' });
    try {
      expect(redis.dir).toBe(dir);
      expect(await readFile(logFile, 'utf8')).toMatch(/Ready to accept connections/);
    } finally {
      await redis.kill();
    }
  });

  it('reports a missing binary as RedisServerMissingError', async () => {
    const dir = await tempDir();
    const start = startLocalRedis({ dir, binary: path.join(dir, 'no-such-redis-server') });
    await expect(start).rejects.toBeInstanceOf(RedisServerMissingError);
    await expect(start).rejects.toThrow(
      /apt-get install redis-server.*brew install redis.*ROTA_REDIS_URL/s,
    );
  });

  it('says which port is taken when a fixed port is in use', async () => {
    const first = await testRedis();
    const error: unknown = await startLocalRedis({ dir: await tempDir(), port: first.port }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisServerStartError);
    const startError = error as RedisServerStartError;
    expect(startError.code).toBe('port_in_use');
    expect(startError.message).toContain(`port ${first.port} is already in use`);
    expect(startError.message).toMatch(/Address already in use/); // the output tail
  });

  it('shows the output tail when the server exits early or never answers', async () => {
    const dir = await tempDir();
    const crashing = path.join(dir, 'crashing-redis');
    await writeFile(crashing, '#!/bin/sh\necho "FATAL: boom" >&2\nexit 3\n', { mode: 0o755 });
    const exited: unknown = await startLocalRedis({ dir, binary: crashing }).catch(
      (e: unknown) => e,
    );
    expect(exited).toBeInstanceOf(RedisServerStartError);
    expect((exited as RedisServerStartError).code).toBe('exited');
    expect((exited as RedisServerStartError).message).toMatch(
      /exited \(code 3\)[\s\S]*FATAL: boom/,
    );

    const silent = path.join(dir, 'silent-redis');
    await writeFile(silent, '#!/bin/sh\necho "starting"\nexec sleep 30\n', { mode: 0o755 });
    const started = Date.now();
    const timedOut: unknown = await startLocalRedis({
      dir,
      binary: silent,
      startTimeoutMs: 300,
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((timedOut as RedisServerStartError).code).toBe('timeout');
    expect((timedOut as RedisServerStartError).message).toMatch(/within 300 ms[\s\S]*starting/);
  });

  it('rejects bad options with a TypeError', async () => {
    await expect(startLocalRedis({ dir: await tempDir(), port: 70_000 })).rejects.toBeInstanceOf(
      TypeError,
    );
  });

  it('terminates the server when the parent process exits', async () => {
    const dir = await tempDir();
    const module = path.resolve('src/redis/local-server.ts');
    const script = `
      import { startLocalRedis } from ${JSON.stringify(module)};
      const redis = await startLocalRedis({ dir: ${JSON.stringify(dir)}, appendonly: false });
      console.log(redis.pid);
    `; // exits without stop(): the running child must not keep it alive
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { timeout: 20_000 },
    );
    const pid = Number(stdout.trim());
    expect(pid).toBeGreaterThan(0);
    const deadline = Date.now() + 5_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(pid)).toBe(false);
  });
});

describe('startLocalRedis detached', () => {
  async function startDetached(dir: string): Promise<LocalRedis> {
    const redis = await startLocalRedis({ dir, appendonly: false, detached: true });
    detached.push(redis);
    return redis;
  }

  const readClaim = async (dir: string): Promise<unknown> =>
    JSON.parse(await readFile(path.join(dir, CLAIM_FILE), 'utf8'));

  /** A pid no process has: one that has just exited. */
  const deadPid = (): number => spawnSync('true').pid;

  it('runs in a process group of its own, with its data folder claimed until it stops', async () => {
    const dir = await tempDir();
    const redis = await startDetached(dir);
    const group = await promisify(execFile)('ps', ['-o', 'pgid=', '-p', String(redis.pid)]);
    expect(Number(group.stdout.trim())).toBe(redis.pid);
    expect(await readClaim(dir)).toEqual({
      owner: process.pid,
      server: redis.pid,
      port: redis.port,
    });
    expect(redis.leftover).toBeUndefined();
    await redis.stop();
    await expect(readFile(path.join(dir, CLAIM_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    await redis.restart();
    expect(await readClaim(dir)).toEqual({
      owner: process.pid,
      server: redis.pid,
      port: redis.port,
    });
  });

  it('refuses a second server on a claimed folder, and leaves the first alone', async () => {
    const dir = await tempDir();
    const first = await startDetached(dir);
    const refused = await startDetached(dir).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DataDirInUseError);
    expect((refused as Error).message).toBe(
      `the Redis data folder ${dir} is in use by the redis-server of process ${process.pid} (another rota?): ` +
        'two servers on one folder would corrupt its append-only file. Stop that process, or set ' +
        `ROTA_REDIS_DATA_DIR (--redis-data-dir) to another folder (if process ${process.pid} is no rota, delete ${path.join(dir, CLAIM_FILE)})`,
    );
    const client = connect(first);
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    expect(await readClaim(dir)).toMatchObject({ server: first.pid });

    await first.kill(); // gives the claim up
    await writeFile(path.join(dir, CLAIM_FILE), 'half a write');
    await expect(startDetached(dir)).rejects.toThrow(
      `the Redis data folder ${dir} is claimed by ${path.join(dir, CLAIM_FILE)}, which names no owner`,
    );
  });

  it('stops the server a SIGKILLed owner left running, and takes the folder over', async () => {
    const dir = await tempDir();
    const module = path.resolve('src/redis/local-server.ts');
    const script = `
      import { startLocalRedis } from ${JSON.stringify(module)};
      const redis = await startLocalRedis({ dir: ${JSON.stringify(dir)}, appendonly: false, detached: true });
      console.log(redis.pid);
      setInterval(() => {}, 1000);
    `;
    const owner = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let leftover: number | undefined;
    try {
      leftover = await new Promise<number>((resolve, reject) => {
        owner.stdout.once('data', (line: Buffer) => resolve(Number(line.toString())));
        owner.once('exit', () => reject(new Error('the owner exited before starting its server')));
      });
    } finally {
      owner.kill('SIGKILL');
    }
    try {
      await new Promise((resolve) => owner.once('exit', resolve));
      expect(isAlive(leftover)).toBe(true);
      const redis = await startDetached(dir);
      expect(redis.leftover).toMatchObject({ owner: owner.pid, pid: leftover });
      expect(await readClaim(dir)).toMatchObject({ owner: process.pid, server: redis.pid });
    } finally {
      if (isAlive(leftover)) process.kill(leftover, 'SIGKILL');
    }
  });

  // A pid reused since, or a port another server took: not the leftover's.
  it('takes over a folder whose recorded server is gone, though its owner pid lives again (a container restart)', async () => {
    const dir = await tempDir();
    // pids start over in a new container: the old owner's may be any live process now
    const claim = { owner: process.ppid, server: deadPid(), port: 1 };
    await writeFile(path.join(dir, CLAIM_FILE), JSON.stringify(claim));
    const redis = await startDetached(dir);
    expect(redis.leftover).toBeUndefined();
    expect(await readClaim(dir)).toMatchObject({ owner: process.pid, server: redis.pid });
  });

  it("leaves alone a server that is not the dead owner's", async () => {
    const dir = await tempDir();
    const other = await testRedis(); // a redis-server of another folder
    const claim = { owner: deadPid(), server: other.pid, port: other.port };
    await writeFile(path.join(dir, CLAIM_FILE), JSON.stringify(claim));
    const redis = await startDetached(dir);
    expect(redis.leftover).toBeUndefined();
    expect(isAlive(other.pid!)).toBe(true);
    expect(await readClaim(dir)).toMatchObject({ owner: process.pid, server: redis.pid });
  });
});
