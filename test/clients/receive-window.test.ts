/**
 * The clients' HTTP/2 receive window. With HTTP/2's default of 64 KiB, a
 * broker may send a client 64 KiB per round trip: a worker 40 ms away took
 * 18 s for 16 leases of 1 MiB (bench/remote-worker.ts). The clients open a larger
 * window; a plain HTTP/2 server reads what they announce.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Producer, Worker } from '../../clients/index.js';
import { CLIENT_RECEIVE_WINDOW } from '../../clients/connection.js';
import { eventually } from '../helpers/broker.js';

const DEFAULT_WINDOW = 65_535;

let server: http2.Http2Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server that never answers, and the windows its first session was given. */
async function listen(): Promise<{
  address: string;
  windows: () => { stream: number | undefined; connection: number } | undefined;
}> {
  let session: http2.ServerHttp2Session | undefined;
  let streamWindow: number | undefined;
  server = http2.createServer();
  server.on('session', (opened) => {
    session ??= opened;
    opened.on('remoteSettings', (settings: http2.Settings) => {
      streamWindow = settings.initialWindowSize;
    });
  });
  server.on('stream', () => {});
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    windows: () =>
      session === undefined
        ? undefined
        : { stream: streamWindow, connection: session.state.remoteWindowSize ?? 0 },
  };
}

const opened = (window: { stream: number | undefined; connection: number } | undefined) =>
  window !== undefined && window.stream !== undefined && window.connection > DEFAULT_WINDOW
    ? window
    : undefined;

describe('client receive window', () => {
  it('a Producer opens a window of CLIENT_RECEIVE_WINDOW, per stream and per connection', async () => {
    const { address, windows } = await listen();
    const producer = new Producer({ address, timeoutMs: 300 });
    try {
      const call = producer.getJob('acme', 'some-job').catch(() => undefined);
      expect(await eventually(() => opened(windows()))).toEqual({
        stream: CLIENT_RECEIVE_WINDOW,
        connection: CLIENT_RECEIVE_WINDOW,
      });
      await call;
    } finally {
      await producer.close();
    }
  });

  it('a Worker does too: its leases carry the payloads', async () => {
    const { address, windows } = await listen();
    const worker = new Worker({
      address,
      queues: ['q'],
      handler: () => undefined,
      shutdownSignals: [],
      shutdownGraceMs: 100,
    });
    worker.on('error', () => {});
    void worker.start().catch(() => undefined);
    try {
      expect(await eventually(() => opened(windows()))).toEqual({
        stream: CLIENT_RECEIVE_WINDOW,
        connection: CLIENT_RECEIVE_WINDOW,
      });
    } finally {
      await worker.close();
    }
  });

  it('channelOptions still set another window', async () => {
    const { address, windows } = await listen();
    const producer = new Producer({
      address,
      timeoutMs: 300,
      channelOptions: { 'grpc-node.flow_control_window': 1 << 20 },
    });
    try {
      const call = producer.getJob('acme', 'some-job').catch(() => undefined);
      expect(await eventually(() => opened(windows()))).toEqual({
        stream: 1 << 20,
        connection: 1 << 20,
      });
      await call;
    } finally {
      await producer.close();
    }
  });
});
