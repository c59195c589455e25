/**
 * The Prometheus endpoint's bearer token (ROTA_METRICS_TOKEN), and the
 * loopback rule it shares with the gRPC port: /metrics names every tenant and
 * queue, so a non-loopback metrics address needs the token or --insecure.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BrokerConfig } from '../../src/config.js';
import { startBroker, type RunningBroker } from '../../src/server.js';
import { Producer } from '../../clients/producer.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';

const TOKEN = 'metrics-scraper-0123456789';

let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  await redis?.dispose();
});

/** A broker on loopback gRPC whose metrics options are given, and its warnings. */
async function start(options: Partial<BrokerConfig>) {
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { level: number; msg: string };
        if (entry.level === 40 && !/Redis/.test(entry.msg)) warnings.push(entry.msg);
      }
      done();
    },
  });
  const config = loadConfig({}, [], {
    redisUrl: redis.url,
    grpcAddress: '127.0.0.1:0',
    keyPrefix: uniquePrefix(),
    leaseTtlMs: 1500,
    heartbeatIntervalMs: 300,
    metricsAddress: '127.0.0.1:0',
    ...options,
  });
  const running = await startBroker(config, pino({ level: 'warn' }, sink));
  return { running, warnings };
}

/** The scrape URL on loopback, whatever host the endpoint was bound to. */
const loopbackUrl = (running: RunningBroker): string => {
  const url = new URL(running.metricsUrl!);
  url.hostname = '127.0.0.1';
  return url.toString();
};

const scrapeWith = (url: string, authorization?: string) =>
  fetch(url, authorization === undefined ? {} : { headers: { authorization } });

describe('metrics endpoint token', () => {
  it('answers 401 without the token, and the metrics with it', async () => {
    const { running } = await start({ metricsToken: TOKEN });
    const producer = new Producer({ address: running.address });
    try {
      await producer.enqueue({ tenant: 'acme', queue: 'mails', payload: Buffer.from('x') });
      const url = loopbackUrl(running);

      for (const authorization of [
        undefined,
        'Bearer wrong-token-0123456789',
        TOKEN,
        `Basic ${TOKEN}`,
      ]) {
        const refused = await scrapeWith(url, authorization);
        expect(refused.status).toBe(401);
        expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="rota metrics"');
        const body = await refused.text();
        expect(body).toContain('Authorization: Bearer');
        expect(body).not.toContain('acme');
      }

      const served = await scrapeWith(url, `Bearer ${TOKEN}`);
      expect(served.status).toBe(200);
      expect(await served.text()).toMatch(/rota_jobs_enqueued_total\{[^}]*tenant="acme"/);
      // the 404 for other paths still asks for the token first
      expect((await scrapeWith(url.replace('/metrics', '/other'))).status).toBe(401);
    } finally {
      await producer.close();
      await running.shutdown();
    }
  });

  it('takes the token as its SHA-256 digest, so the secret need not be in the config', async () => {
    const digest = createHash('sha256').update(TOKEN).digest('hex');
    const { running } = await start({ metricsToken: `sha256:${digest}` });
    try {
      const url = loopbackUrl(running);
      expect((await scrapeWith(url, `Bearer ${TOKEN}`)).status).toBe(200);
      expect((await scrapeWith(url, `Bearer sha256:${digest}`)).status).toBe(401);
    } finally {
      await running.shutdown();
    }
  });

  it('refuses a token too short to be a secret at start, naming the option', async () => {
    await expect(start({ metricsToken: 'short' })).rejects.toThrow(
      'ROTA_METRICS_TOKEN (--metrics-token): token must be 16 to 4096 characters',
    );
  });
});

describe('metrics loopback rule', () => {
  const REFUSAL =
    'refusing to serve metrics on 0.0.0.0:0 without a token: they name every tenant and queue. ' +
    'Set ROTA_METRICS_TOKEN (--metrics-token), serve them on a loopback address (ROTA_METRICS_ADDRESS=127.0.0.1:9464), ' +
    'or accept the risk with --insecure (ROTA_INSECURE=1)';

  it('refuses a non-loopback metrics address without a token, before touching Redis', async () => {
    const probe = new Redis(redis.url);
    const clients = async () => /connected_clients:(\d+)/.exec(await probe.info('clients'))?.[1];
    try {
      const before = await clients();
      await expect(start({ metricsAddress: '0.0.0.0:0' })).rejects.toThrow(REFUSAL);
      expect(await clients()).toBe(before);
    } finally {
      probe.disconnect();
    }
  });

  it('serves a non-loopback address with a token, silently', async () => {
    const { running, warnings } = await start({ metricsAddress: '0.0.0.0:0', metricsToken: TOKEN });
    try {
      expect(running.metricsUrl).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/metrics$/);
      expect((await scrapeWith(loopbackUrl(running))).status).toBe(401);
      expect(warnings).toEqual([]);
    } finally {
      await running.shutdown();
    }
  });

  it('serves a non-loopback address without a token under --insecure, and warns', async () => {
    const { running, warnings } = await start({ metricsAddress: '0.0.0.0:0', insecure: true });
    try {
      expect((await scrapeWith(loopbackUrl(running))).status).toBe(200);
      expect(warnings).toContain(
        'INSECURE: serving metrics on a non-loopback address without a token (--insecure); anyone who reaches it can read every tenant and queue name',
      );
    } finally {
      await running.shutdown();
    }
  });
});
