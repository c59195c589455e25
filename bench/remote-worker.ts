/**
 * `npx tsx bench/remote-worker.ts [--delay-ms 20] [--jobs 16] [--size-kib 1024] [--concurrency 4]`
 *
 * A worker far from its broker: its connection goes through a proxy on
 * 127.0.0.1 that holds every chunk `--delay-ms` each way (a round trip of
 * twice that), and it takes `--jobs` leases of `--size-kib` payloads. Runs it
 * with HTTP/2's default 64 KiB receive window (set through channelOptions, as
 * the clients had it) and with the clients' own (CLIENT_RECEIVE_WINDOW), and
 * prints the seconds from the enqueue to the last handler start and the MiB/s.
 * Then a producer behind the same proxy uploads as many jobs in one batch: the
 * broker's own receive window (SERVER_RECEIVE_WINDOW) decides that one.
 * Writes bench/results/remote-worker-<timestamp>.json. Starts and stops its own
 * redis-server and broker.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

import { Producer, Worker } from '../clients/index.js';
import { CLIENT_RECEIVE_WINDOW } from '../clients/connection.js';
import { SERVER_RECEIVE_WINDOW } from '../src/grpc/receive-window.js';
import { startTestBroker } from '../test/helpers/broker.js';
import { startTestRedis } from '../test/helpers/redis.js';
import { writeResults } from './lib/results-file.js';

const HTTP2_DEFAULT_WINDOW = 65_535;

const { values } = parseArgs({
  options: {
    'delay-ms': { type: 'string', default: '20' },
    jobs: { type: 'string', default: '16' },
    'size-kib': { type: 'string', default: '1024' },
    concurrency: { type: 'string', default: '4' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'Usage: npx tsx bench/remote-worker.ts [--delay-ms 20] [--jobs 16] [--size-kib 1024] [--concurrency 4]\n' +
      'A worker behind a proxy that delays each direction by --delay-ms takes --jobs leases of\n' +
      '--size-kib payloads, with a 64 KiB HTTP/2 receive window and with the clients’ own.',
  );
  process.exit(0);
}
const delayMs = Number(values['delay-ms']);
const jobs = Number(values.jobs);
const sizeBytes = Number(values['size-kib']) * 1024;
const concurrency = Number(values.concurrency);
for (const [name, value] of Object.entries({ delayMs, jobs, sizeBytes, concurrency })) {
  if (!Number.isFinite(value) || value < (name === 'delayMs' ? 0 : 1)) {
    console.error(`bench/remote-worker: ${name} must be a positive number, got ${value}`);
    process.exit(2);
  }
}

/** A TCP proxy on 127.0.0.1 that delays each chunk, in order, by delayMs. */
async function delayingProxy(upstreamPort: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk) => setTimeout(() => to.write(chunk), delayMs));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

const redis = await startTestRedis();
const broker = await startTestBroker({
  redisUrl: redis.url,
  maxPayloadBytes: Math.max(1024 * 1024, sizeBytes),
  logLevel: 'error',
});
const proxy = await delayingProxy(
  Number(broker.address.slice(broker.address.lastIndexOf(':') + 1)),
);
const producer = new Producer({ address: broker.address });

/** Seconds from the enqueue of the jobs to the start of the last one's handler. */
async function run(window: number, queue: string): Promise<number> {
  let started = 0;
  let allStarted: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allStarted = resolve));
  const worker = new Worker({
    address: `127.0.0.1:${proxy.port}`,
    queues: [queue],
    concurrency,
    shutdownSignals: [],
    channelOptions: { 'grpc-node.flow_control_window': window },
    handler: () => {
      if (++started === jobs) allStarted();
    },
  });
  await worker.start();
  const from = performance.now();
  await producer.enqueueBatch(
    Array.from({ length: jobs }, () => ({
      tenant: 'far',
      queue,
      payload: Buffer.alloc(sizeBytes, 1),
    })),
  );
  await done;
  const seconds = (performance.now() - from) / 1000;
  await worker.close();
  return seconds;
}

/** Seconds a producer behind the proxy takes to store the jobs (one enqueueBatch). */
async function upload(): Promise<number> {
  const far = new Producer({ address: `127.0.0.1:${proxy.port}` });
  try {
    const from = performance.now();
    await far.enqueueBatch(
      Array.from({ length: jobs }, () => ({
        tenant: 'far',
        queue: 'remote-upload',
        payload: Buffer.alloc(sizeBytes, 1),
      })),
    );
    return (performance.now() - from) / 1000;
  } finally {
    await far.close();
  }
}

const results = [];
try {
  for (const [label, window] of [
    ['HTTP/2 default window (64 KiB)', HTTP2_DEFAULT_WINDOW],
    [`the clients' window (${CLIENT_RECEIVE_WINDOW / 1024 / 1024} MiB)`, CLIENT_RECEIVE_WINDOW],
  ] as const) {
    const seconds = await run(window, `remote-${window}`);
    const mibPerSecond = (jobs * sizeBytes) / 1024 / 1024 / seconds;
    results.push({ label, window, seconds, mibPerSecond });
    console.log(
      `${label.padEnd(34)} ${seconds.toFixed(2).padStart(7)} s  ${mibPerSecond.toFixed(1).padStart(7)} MiB/s`,
    );
  }
  const seconds = await upload();
  const mibPerSecond = (jobs * sizeBytes) / 1024 / 1024 / seconds;
  const label = 'a producer uploading them';
  results.push({ label, window: SERVER_RECEIVE_WINDOW, seconds, mibPerSecond });
  console.log(
    `${label.padEnd(34)} ${seconds.toFixed(2).padStart(7)} s  ${mibPerSecond.toFixed(1).padStart(7)} MiB/s`,
  );
} finally {
  await producer.close();
  proxy.close();
  await broker.shutdown();
  await redis.dispose();
}
writeResults('remote-worker', { delayMs, jobs, sizeBytes, concurrency, results });
