/**
 * The loopback rule: a broker without auth only listens on loopback, unless
 * started with --insecure. These brokers bind 0.0.0.0 on a free port; no test
 * sends them traffic.
 */
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BrokerConfig } from '../../src/config.js';
import { startBroker } from '../../src/server.js';
import { startTestBroker } from '../helpers/broker.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../helpers/redis.js';
import { makePki, type TestPki } from './fixture.js';

let redis: TestRedis;
let pki: TestPki;

beforeAll(async () => {
  [redis, pki] = await Promise.all([startTestRedis(), makePki()]);
});

afterAll(async () => {
  await redis?.dispose();
  await pki?.dispose();
});

const REFUSAL =
  "refusing to listen on 0.0.0.0:0 without authentication: anyone who reaches it could enqueue, take and cancel every tenant's jobs. " +
  'Configure bearer tokens (ROTA_AUTH_FILE or ROTA_AUTH_TOKENS) or client certificates (ROTA_TLS_CLIENT_CA_FILE), ' +
  'listen on a loopback address (ROTA_GRPC_ADDRESS=127.0.0.1:50051), or accept the risk with --insecure (ROTA_INSECURE=1)';

/** A broker on 0.0.0.0:0 whose warnings and errors are captured. */
async function startExposed(options: Partial<BrokerConfig>) {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line) lines.push(JSON.parse(line) as { level: number; msg: string });
      }
      done();
    },
  });
  const config = loadConfig({}, [], {
    redisUrl: redis.url,
    grpcAddress: '0.0.0.0:0',
    keyPrefix: uniquePrefix(),
    leaseTtlMs: 1500,
    heartbeatIntervalMs: 300,
    metricsAddress: undefined,
    ...options,
  });
  const running = await startBroker(config, pino({ level: 'warn' }, sink));
  // Warnings about transport security (not, say, Redis durability).
  const warnings = (): string[] =>
    lines.filter((l) => l.level === 40 && !/Redis/.test(l.msg)).map((l) => l.msg);
  return { running, warnings };
}

describe('loopback rule', () => {
  it('refuses a non-loopback address without auth, before touching Redis', async () => {
    const probe = new Redis(redis.url);
    const clients = async () => /connected_clients:(\d+)/.exec(await probe.info('clients'))?.[1];
    try {
      const before = await clients();
      await expect(
        startTestBroker({ redisUrl: redis.url, grpcAddress: '0.0.0.0:0' }),
      ).rejects.toThrow(REFUSAL);
      expect(await clients()).toBe(before);
    } finally {
      probe.disconnect();
    }
  });

  it('starts with --insecure, and warns', async () => {
    const { running, warnings } = await startExposed({ insecure: true });
    try {
      expect(running.address).toMatch(/^0\.0\.0\.0:\d+$/);
      expect(warnings()).toContain(
        'INSECURE: listening on a non-loopback address without authentication (--insecure); anyone who reaches it can use every RPC',
      );
    } finally {
      await running.shutdown();
    }
  });

  it('starts with tokens (and warns that they travel in clear text without TLS)', async () => {
    const { running, warnings } = await startExposed({
      authTokens: 'exposure-token-0123456789:admin',
    });
    try {
      expect(warnings()).toEqual([
        'bearer tokens travel in clear text: configure TLS (ROTA_TLS_CERT_FILE, ROTA_TLS_KEY_FILE)',
      ]);
    } finally {
      await running.shutdown();
    }
  });

  it('starts with client certificates (mutual TLS) and no tokens, silently', async () => {
    const { running, warnings } = await startExposed({
      tlsCertFile: pki.server.certFile,
      tlsKeyFile: pki.server.keyFile,
      tlsClientCaFile: pki.ca.certFile,
    });
    try {
      expect(warnings()).toEqual([]);
    } finally {
      await running.shutdown();
    }
  });

  it('refuses TLS without client certificates and without tokens', async () => {
    await expect(
      startTestBroker({
        redisUrl: redis.url,
        grpcAddress: '0.0.0.0:0',
        tlsCertFile: pki.server.certFile,
        tlsKeyFile: pki.server.keyFile,
      }),
    ).rejects.toThrow(REFUSAL);
  });
});
