import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import { useBroker } from '../helpers/harness.js';
import { eventually, shutdownWhileStoring } from '../helpers/broker.js';
import { RawWorker } from '../helpers/raw-worker.js';
import { runRotaUntilExit } from '../helpers/cli.js';

const h = useBroker();

describe('graceful shutdown', () => {
  it('drains workers, records their acks, and leaves unfinished leases for recovery', async () => {
    const worker = await h.worker({ queues: ['closing'], capacity: 2 });
    const first = await h.enqueue({ tenant: 'acme', queue: 'closing' });
    const second = await h.enqueue({ tenant: 'acme', queue: 'closing' });
    const leases = await worker.take(2);
    const finishing = leases.find((l) => l.job_id === first.job_id)!;
    const unfinished = leases.find((l) => l.job_id === second.job_id)!;

    const stopped = h.broker.shutdown(1500);
    await expect.poll(() => worker.messages.find((m) => m.drain)?.drain?.grace_ms).toBe(1500);
    worker.complete(finishing, Buffer.from('finished while draining'));
    await stopped;
    expect((await worker.waitStatus()).code).toBe(status.UNAVAILABLE);

    await h.restartBroker();
    expect((await h.getJob('acme', first.job_id)).state).toBe('COMPLETED');
    expect((await h.getJob('acme', second.job_id)).state).toBe('LEASED'); // not expired by the shutdown
    const back = await RawWorker.connect(h.broker.address, {
      queues: ['closing'],
      in_flight: [
        { job_id: unfinished.job_id, lease_token: unfinished.lease_token, tenant: 'acme' },
      ],
    });
    try {
      expect((await back.welcome()).reattached_job_ids).toEqual([second.job_id]);
      back.complete(unfinished);
      const job = await h.waitState('acme', second.job_id, 'COMPLETED');
      expect(job.attempts).toBe(1);
    } finally {
      back.drop();
    }
  });

  it('answers a unary Enqueue it is storing as the shutdown starts', async () => {
    const stopped = shutdownWhileStoring(h.broker, 1000);
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'closing',
      payload: Buffer.from('x'),
    });
    await stopped;

    await h.restartBroker();
    expect((await h.getJob('acme', job_id)).state).toBe('WAITING');
  });

  it('the rota command exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
      env: {
        ...process.env,
        ROTA_REDIS_URL: h.redis.url,
        ROTA_GRPC_ADDRESS: '127.0.0.1:0',
        ROTA_METRICS_ADDRESS: 'off',
        ROTA_KEY_PREFIX: 'sigterm-test',
        ROTA_LOG_LEVEL: 'info',
        ROTA_SOMETHING_ELSE: 'x', // no option's near name: started, with a warning
        ROTA_ADDRESS: '127.0.0.1:50051', // the examples': silent
        // A worker's, sharing the environment: one letter from ROTA_AUTH_TOKENS, and far from any.
        ROTA_AUTH_TOKEN: 'a-worker-token-0123456789',
        ROTA_QUEUE: 'email',
        ROTA_IGNORE_VARIABLES: 'ROTA_AUTH_TOKEN,ROTA_QUEUE',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    try {
      await eventually(() => (output.includes('rota broker listening') ? true : undefined), {
        timeoutMs: 15_000,
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('rota broker stopped');
      expect(output.match(/\w+ is not a broker option/g)).toEqual([
        'ROTA_SOMETHING_ELSE is not a broker option',
      ]);
      expect(output).toContain('ROTA_SOMETHING_ELSE is not a broker option: ignored (see --help)');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the rota command refuses to start with a mistyped variable, before any Redis', async () => {
    // Mistyped, ROTA_REDIS_URL meant a private Redis: every job lost with the broker.
    const { code, output } = await runRotaUntilExit({
      ROTA_REDIS_ULR: h.redis.url,
      ROTA_GRPC_ADDRESS: '127.0.0.1:0',
    });
    expect(code).toBe(2);
    expect(output).toContain(
      'rota: unknown environment variable ROTA_REDIS_ULR (did you mean ROTA_REDIS_URL?)',
    );
    expect(output).not.toContain('redis-server');
  });
});
