/**
 * TLS and mutual TLS end to end with the Producer and Worker clients, using
 * certificates openssl makes for this run; the caller a client certificate
 * names in the logs; and the start-up checks of TLS files.
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producer, type ProducerOptions } from '../../clients/producer.js';
import { Worker, type WorkerOptions } from '../../clients/worker.js';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';
import { makePki, ok, outcome, stubs, WorkStream, type Pem, type TestPki } from './fixture.js';

const TOKEN = 'tls-admin-token-0123456789';

let pki: TestPki;
let redis: TestRedis;
let tlsBroker: TestBroker;
let mtlsBroker: TestBroker;
/** Mutual TLS and no tokens: the certificate is all that names a caller. */
let certifiedBroker: TestBroker;
const certifiedLogged: Array<Record<string, unknown>> = [];
const closers: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [pki, redis] = await Promise.all([makePki(), startTestRedis()]);
  [tlsBroker, mtlsBroker, certifiedBroker] = await Promise.all([
    startTestBroker({
      redisUrl: redis.url,
      tlsCertFile: pki.server.certFile,
      tlsKeyFile: pki.server.keyFile,
    }),
    startTestBroker({
      redisUrl: redis.url,
      tlsCertFile: pki.server.certFile,
      tlsKeyFile: pki.server.keyFile,
      tlsClientCaFile: pki.ca.certFile,
      authTokens: `${TOKEN}:admin`,
    }),
    startTestBroker({
      redisUrl: redis.url,
      tlsCertFile: pki.server.certFile,
      tlsKeyFile: pki.server.keyFile,
      tlsClientCaFile: pki.ca.certFile,
      logLevel: 'info',
      onLog: (line) => certifiedLogged.push(line),
    }),
  ]);
});

afterAll(async () => {
  for (const close of closers) await close();
  await Promise.all([tlsBroker?.shutdown(), mtlsBroker?.shutdown(), certifiedBroker?.shutdown()]);
  await redis?.dispose();
  await pki?.dispose();
});

function producer(options: ProducerOptions): Producer {
  const p = new Producer({ timeoutMs: 5000, ...options });
  closers.push(() => p.close());
  return p;
}

function worker(options: Omit<WorkerOptions, 'handler' | 'queues'> & { queue: string }): Worker {
  const w = new Worker({
    ...options,
    queues: [options.queue],
    shutdownSignals: [],
    reconnect: { initialMs: 50, maxMs: 200 },
    handler: (job) => ({ seen: job.payload }),
  });
  closers.push(() => w.close());
  return w;
}

/** Enqueues a job and waits until a worker completed it. */
async function roundTrip(p: Producer, queue: string): Promise<void> {
  const { jobId } = await p.enqueue({ tenant: 'acme', queue, payload: { hello: 'tls' } });
  await expect
    .poll(async () => (await p.getJob('acme', jobId)).state, { timeout: 5000 })
    .toBe('COMPLETED');
  expect((await p.getJob('acme', jobId)).result).toEqual({ seen: { hello: 'tls' } });
}

describe('TLS', () => {
  it('carries Producer and Worker traffic', async () => {
    const tls = { ca: pki.ca.cert };
    const w = worker({ address: tlsBroker.address, tls, queue: 'tls' });
    await w.start();
    await roundTrip(producer({ address: tlsBroker.address, tls }), 'tls');
  });

  it('accepts PEM strings and a serverName that the certificate carries', async () => {
    const tls = { ca: pki.ca.cert.toString(), serverName: 'localhost' };
    const w = worker({ address: tlsBroker.address, tls, queue: 'tls-name' });
    await w.start();
    await roundTrip(producer({ address: tlsBroker.address, tls }), 'tls-name');
  });

  it('is refused by a client that does not trust the broker, or speaks plain text', async () => {
    const wrongCa = producer({ address: tlsBroker.address, tls: { ca: pki.rogueClient.cert } });
    await expect(wrongCa.getJob('acme', 'x')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    const plain = producer({ address: tlsBroker.address });
    await expect(plain.getJob('acme', 'x')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    const wrongName = producer({
      address: tlsBroker.address,
      tls: { ca: pki.ca.cert, serverName: 'rota.example.com' },
    });
    await expect(wrongName.getJob('acme', 'x')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('rejects conflicting client options', () => {
    expect(
      () =>
        new Producer({
          address: tlsBroker.address,
          tls: { ca: pki.ca.cert },
          credentials: grpc.credentials.createInsecure(),
        }),
    ).toThrow('tls and credentials are both set; give one (tls builds the credentials)');
    expect(
      () => new Producer({ address: tlsBroker.address, tls: { cert: pki.client.cert } }),
    ).toThrow('tls.cert and tls.key must be given together (a client certificate and its key)');
  });
});

describe('mutual TLS', () => {
  const clientTls = () => ({ ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key });

  it('carries traffic of a client with a certificate signed by the client CA (and a token)', async () => {
    const w = worker({
      address: mtlsBroker.address,
      tls: clientTls(),
      token: TOKEN,
      queue: 'mtls',
    });
    await w.start();
    await roundTrip(
      producer({ address: mtlsBroker.address, tls: clientTls(), token: TOKEN }),
      'mtls',
    );
  });

  it('refuses a client without a certificate', async () => {
    const noCert = producer({
      address: mtlsBroker.address,
      tls: { ca: pki.ca.cert },
      token: TOKEN,
    });
    await expect(noCert.getJob('acme', 'x')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    const w = worker({ address: mtlsBroker.address, tls: { ca: pki.ca.cert }, token: TOKEN, queue: 'm' });
    const errors: Error[] = [];
    w.on('error', (error) => errors.push(error));
    void w.start().catch(() => undefined);
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    expect(w.running).toBe(0);
  }); // prettier-ignore

  it('refuses a certificate from another CA', async () => {
    const rogue = producer({
      address: mtlsBroker.address,
      tls: { ca: pki.ca.cert, cert: pki.rogueClient.cert, key: pki.rogueClient.key },
      token: TOKEN,
    });
    await expect(rogue.getJob('acme', 'x')).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('still checks the token of a client with a good certificate', async () => {
    const s = stubs(
      mtlsBroker.address,
      undefined,
      grpc.credentials.createSsl(pki.ca.cert, pki.client.key, pki.client.cert),
    );
    closers.push(() => s.close());
    expect(await outcome(s.admin.ListTenants.bind(s.admin), {})).toMatchObject({
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
    });
    const authed = stubs(
      mtlsBroker.address,
      TOKEN,
      grpc.credentials.createSsl(pki.ca.cert, pki.client.key, pki.client.cert),
    );
    closers.push(() => authed.close());
    await ok(authed.admin.ListTenants.bind(authed.admin), {});
  });
});

describe('mutual TLS without tokens', () => {
  const as = (client: Pem) => {
    const s = stubs(
      certifiedBroker.address,
      undefined,
      grpc.credentials.createSsl(pki.ca.cert, client.key, client.cert),
    );
    closers.push(() => s.close());
    return s;
  };
  const purgeLines = () =>
    certifiedLogged.filter((line) => line.msg === 'purged the waiting jobs of a queue');

  it('names the caller by its certificate in the audit trail, and by nothing more of it', async () => {
    const client = as(pki.client);
    await ok(client.admin.PurgeQueue.bind(client.admin), { tenant: 'acme', queue: 'cert' });
    const w = new WorkStream(client, { worker_id: 'w-cert', queues: ['cert'] });
    closers.push(() => w.close());
    await w.welcome();
    // Without a CN, its first subject alternative name.
    const altNamed = as(pki.altNameClient);
    await ok(altNamed.admin.PurgeQueue.bind(altNamed.admin), { tenant: 'acme', queue: 'alt' });

    expect(purgeLines()).toEqual([
      expect.objectContaining({ caller: 'CN=client', rpc: 'PurgeQueue', queue: 'cert' }),
      expect.objectContaining({ caller: 'URI:spiffe://acme/worker-1', queue: 'alt' }),
    ]);
    expect(certifiedLogged.filter((line) => line.msg === 'worker session opened')).toEqual([
      expect.objectContaining({ caller: 'CN=client', workerId: 'w-cert' }),
    ]);
    const text = JSON.stringify(certifiedLogged);
    for (const { cert } of [pki.client, pki.altNameClient]) {
      const x509 = new X509Certificate(cert);
      for (const detail of [x509.serialNumber, x509.fingerprint256, x509.issuer, 'Acme']) {
        expect(text).not.toContain(detail);
      }
    }
  });
});

describe('TLS files at start', () => {
  it('names the file that cannot be read or is not PEM', async () => {
    await expect(
      startTestBroker({
        redisUrl: redis.url,
        tlsCertFile: `${pki.dir}/missing.pem`,
        tlsKeyFile: pki.server.keyFile,
      }),
    ).rejects.toThrow(`ROTA_TLS_CERT_FILE ${pki.dir}/missing.pem: cannot read it (ENOENT`);
    await expect(
      startTestBroker({
        redisUrl: redis.url,
        tlsCertFile: pki.server.certFile,
        tlsKeyFile: `${pki.dir}/server.ext`,
      }),
    ).rejects.toThrow(`ROTA_TLS_KEY_FILE ${pki.dir}/server.ext is not a PEM file`);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    await expect(
      startTestBroker({
        redisUrl: redis.url,
        tlsCertFile: pki.server.certFile,
        tlsKeyFile: pki.client.keyFile,
      }),
    ).rejects.toThrow(/^TLS files rejected \(ROTA_TLS_CERT_FILE .*key values mismatch$/);
  });
});
