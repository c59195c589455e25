/**
 * The `rota` command as an operator runs it, with its private redis-server (no
 * ROTA_REDIS_URL): Ctrl-C, signals during the start, `npm start` under a
 * supervisor, two starts on one data folder, a broker SIGKILLed, and bad
 * option values found after the configuration is read.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer, Worker } from '../clients/index.js';
import { CLAIM_FILE } from '../src/redis/data-dir-claim.js';
import { freePort } from '../src/redis/local-server.js';
import {
  claimedServerPid,
  isRunning,
  redisServerChildren,
  RotaProcess,
  runRotaUntilExit,
} from './helpers/cli.js';

const started: RotaProcess[] = [];
/** redis-servers a test saw, killed should a failing rota have left them behind. */
const redisServers: number[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((rota) => rota.dispose()));
  for (const pid of redisServers.splice(0)) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rota-cli-'));
  tempDirs.push(dir);
  return dir;
}

/** The environment of a rota with a private Redis in `dataDir`, on free ports. */
function privateRedis(dataDir: string): Record<string, string> {
  return {
    ROTA_REDIS_DATA_DIR: dataDir,
    ROTA_GRPC_ADDRESS: '127.0.0.1:0',
    ROTA_METRICS_ADDRESS: 'off',
  };
}

function startRota(
  env: Record<string, string>,
  how?: Parameters<typeof RotaProcess.start>[1],
): RotaProcess {
  const rota = RotaProcess.start(env, how);
  started.push(rota);
  return rota;
}

async function enqueue(address: string, queue: string): Promise<string> {
  const producer = new Producer({ address, timeoutMs: 5000 });
  try {
    return (await producer.enqueue({ tenant: 'acme', queue, payload: { n: 1 } })).jobId;
  } finally {
    await producer.close();
  }
}

async function stateOf(address: string, jobId: string): Promise<string> {
  const producer = new Producer({ address, timeoutMs: 5000 });
  try {
    return (await producer.getJob('acme', jobId)).state;
  } finally {
    await producer.close();
  }
}

/** A Worker running one job of `queue`, which finishes on release(). */
async function runningWorker(
  address: string,
  queue: string,
): Promise<{ release: () => void; close: () => Promise<void> }> {
  let running!: () => void;
  const handlerStarted = new Promise<void>((resolve) => (running = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const worker = new Worker({
    address,
    queues: [queue],
    concurrency: 1,
    shutdownSignals: [],
    handler: async () => {
      running();
      await released;
      return { done: true };
    },
  });
  await worker.start();
  await handlerStarted;
  return {
    release,
    close: async () => {
      release();
      await worker.close().catch(() => undefined);
    },
  };
}

describe('the rota command with its private redis-server', () => {
  const stops = [
    {
      // Ctrl-C signals the terminal's whole process group. The redis-server was in
      // it and stopped at once: a job finished during the grace stayed LEASED.
      when: 'on Ctrl-C',
      how: 'node',
      stop: async (rota: RotaProcess): Promise<void> => {
        rota.interruptGroup();
        await rota.said('shutting down');
      },
      stopped: async (rota: RotaProcess): Promise<void> => {
        expect(await rota.exited).toBe(0);
      },
    },
    {
      // Closing the terminal sends the broker SIGHUP, and its redis-server, in
      // a process group of its own, nothing: the broker died undrained and left
      // the server running. Caught, the stop then hung: its log lines got EIO
      // from the closed terminal, which pino threw, and its flush at exit
      // retried for ever.
      when: 'when its terminal is closed',
      how: 'terminal',
      // Its output goes with the terminal: no line says the stop began.
      stop: (rota: RotaProcess): void => rota.closeTerminal(),
      // Not its exit code: Node.js 20 aborts as it exits, unable to restore
      // the closed terminal's settings (nodejs/node#51519), once all is done.
      stopped: async (_rota: RotaProcess, pid: number): Promise<void> => {
        await expect.poll(() => isRunning(pid), { timeout: 20_000 }).toBe(false);
      },
    },
  ] as const;

  for (const { when, how, stop, stopped } of stops) {
    it(`drains its workers ${when} before it stops its redis-server`, async () => {
      const dataDir = await tempDir();
      const first = startRota(privateRedis(dataDir), how);
      const { address, pid } = await first.listening();
      const [server] = redisServerChildren(pid);
      expect(server).toBeGreaterThan(0);
      redisServers.push(server!);
      const jobId = await enqueue(address, 'slow');
      const worker = await runningWorker(address, 'slow');
      try {
        await stop(first);
        // A second into the 10 s grace: long after a redis-server that got the signal too has stopped.
        await sleep(1000);
        worker.release();
        await stopped(first, pid);
      } finally {
        await worker.close();
      }
      expect(isRunning(server!)).toBe(false);
      expect(existsSync(path.join(dataDir, CLAIM_FILE))).toBe(false);

      const second = startRota(privateRedis(dataDir)); // the same folder: the AOF the first wrote
      expect(await stateOf((await second.listening()).address, jobId), first.output).toBe(
        'COMPLETED',
      );
    }, 60_000);
  }

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`stops its redis-server on a ${signal} that comes while it starts`, async () => {
      // A redis-server that takes a second to start: the signal comes while it does.
      const bin = await tempDir();
      const real = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
      await writeFile(
        path.join(bin, 'redis-server'),
        `#!/bin/sh\nsleep 1\nexec ${real.trim()} "$@"\n`,
      );
      await chmod(path.join(bin, 'redis-server'), 0o755);
      const dataDir = await tempDir();
      const rota = startRota({
        ...privateRedis(dataDir),
        PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      });
      let redis: number | undefined;
      for (let tries = 0; redis === undefined && tries < 2000; tries++) {
        redis = redisServerChildren(rota.child.pid!)[0];
        if (redis === undefined) await sleep(5);
      }
      expect(redis, rota.output).toBeDefined();
      redisServers.push(redis!);
      // Recorded from its spawn: a broker SIGKILLed now leaves a server the next start can find.
      await expect.poll(() => claimedServerPid(dataDir)).toBe(redis);
      rota.child.kill(signal); // the broker alone, as `kill` or a supervisor sends it
      expect(await rota.exited).toBe(0);
      expect(rota.output).toContain('stopping before the start is done');
      expect(rota.output).not.toContain('rota broker listening');
      expect(isRunning(redis!), rota.output).toBe(false);
    }, 30_000);
  }

  it('stops at once on a signal while it waits for an unreachable Redis', async () => {
    const rota = startRota({
      ROTA_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      ROTA_REDIS_START_TIMEOUT_MS: '600000',
      ROTA_GRPC_ADDRESS: '127.0.0.1:0',
      ROTA_METRICS_ADDRESS: 'off',
    });
    await rota.said('Redis is not reachable yet');
    rota.child.kill('SIGTERM');
    expect(await rota.exited).toBe(0);
  }, 30_000);

  // npm ran the script with sh -c, which does not pass a SIGTERM on: the
  // broker lived on, orphaned, holding its port and its redis-server.
  it('stops, Redis and all, when a supervisor sends SIGTERM to `npm start`', async () => {
    const dataDir = await tempDir();
    const npm = startRota(privateRedis(dataDir), 'npm start');
    const broker = await npm.listening();
    const [server] = redisServerChildren(broker.pid);
    expect(server).toBeGreaterThan(0);
    redisServers.push(server!);
    npm.child.kill('SIGTERM'); // npm's pid only
    expect(await npm.exited).toBe(0);
    expect(isRunning(broker.pid), `broker ${broker.pid} still running`).toBe(false);
    expect(isRunning(server!), `redis-server ${server} still running`).toBe(false);
  }, 60_000);

  it('refuses a second start on the data folder of a running one', async () => {
    const dataDir = await tempDir();
    const first = startRota(privateRedis(dataDir));
    const { address } = await first.listening();
    const { code, output } = await runRotaUntilExit(privateRedis(dataDir));
    expect(code).toBe(1);
    expect(output).toContain(
      `rota: the Redis data folder ${dataDir} is in use by the redis-server of process ${first.child.pid} (another rota?)`,
    );
    expect(output).toContain('set ROTA_REDIS_DATA_DIR (--redis-data-dir) to another folder');
    expect(output).not.toContain('rota broker listening');
    expect(await stateOf(address, await enqueue(address, 'still-served'))).toBe('WAITING');
  }, 60_000);

  // The price of the private Redis's own process group: nothing stops it with a SIGKILLed broker.
  it('stops the redis-server a SIGKILLed rota left running, at the next start on its folder', async () => {
    const dataDir = await tempDir();
    const first = startRota(privateRedis(dataDir));
    const jobId = await enqueue((await first.listening()).address, 'kept');
    const leftover = claimedServerPid(dataDir)!;
    redisServers.push(leftover);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(isRunning(leftover)).toBe(true);

    const second = startRota(privateRedis(dataDir));
    const { address } = await second.listening();
    expect(second.output).toContain(
      'stopped the redis-server that a killed rota (owner) had left running on this data folder',
    );
    expect(isRunning(leftover)).toBe(false);
    expect(claimedServerPid(dataDir)).not.toBe(leftover);
    expect(await stateOf(address, jobId)).toBe('WAITING'); // its AOF flushed by the graceful stop
  }, 60_000);
});

// README: a bad option exits 2. These are found after the configuration is
// read (tokens, TLS files, the loopback rule); they exited 1, and only after
// the private redis-server had started.
describe('bad security options', () => {
  const secret = 'c0ffee5ecretT0kenValue0123456789';

  it.each([
    [{ ROTA_METRICS_TOKEN: 'short' }, 'ROTA_METRICS_TOKEN (--metrics-token): token must be 16 to'],
    [
      { ROTA_AUTH_TOKENS: `${secret}:superuser` },
      'ROTA_AUTH_TOKENS entry 1: role must be one of producer, worker, admin',
    ],
    [
      { ROTA_TLS_CERT_FILE: '/nonexistent/cert.pem', ROTA_TLS_KEY_FILE: '/nonexistent/key.pem' },
      'ROTA_TLS_CERT_FILE /nonexistent/cert.pem: cannot read it',
    ],
    [{ ROTA_GRPC_ADDRESS: '0.0.0.0:0' }, 'refusing to listen on 0.0.0.0:0 without authentication'],
  ])(
    '%o exits 2 before it starts a redis-server',
    async (env, message) => {
      const dataDir = path.join(await tempDir(), 'redis');
      const { code, output } = await runRotaUntilExit({ ...privateRedis(dataDir), ...env });
      expect(output).toContain(`rota: ${message}`);
      expect(output).not.toContain(secret);
      expect(code).toBe(2);
      expect(existsSync(dataDir)).toBe(false);
    },
    30_000,
  );

  // The YAML parser's message quotes the offending line, token and all.
  it('an auth file with a syntax error exits 2 without printing its tokens', async () => {
    const file = path.join(await tempDir(), 'tokens.yaml');
    await writeFile(file, `- token: ${secret} name: deploy-bot\n  role: admin\n`);
    const { code, output } = await runRotaUntilExit({
      ...privateRedis(await tempDir()),
      ROTA_AUTH_FILE: file,
    });
    expect(output).toContain(`rota: ROTA_AUTH_FILE ${file} is not valid JSON or YAML (line 1`);
    expect(output).not.toContain(secret);
    expect(code).toBe(2);
  }, 30_000);
});
