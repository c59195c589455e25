/**
 * The broker's HTTP/2 receive window. grpc-js's server keeps HTTP/2's default
 * of 64 KiB, so a producer far from the broker uploads 64 KiB per round trip;
 * the broker gives each connection a larger one (src/grpc/receive-window.ts,
 * through a private field of grpc-js: this test is what notices when an
 * upgrade of grpc-js breaks that). A plain HTTP/2 client reads the windows the
 * broker announces, and an upload larger than the default window still lands.
 */
import http2 from 'node:http2';
import { Writable } from 'node:stream';
import type { Server } from '@grpc/grpc-js';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Producer } from '../../clients/index.js';
import { SERVER_RECEIVE_WINDOW, widenReceiveWindow } from '../../src/grpc/receive-window.js';
import { eventually } from '../helpers/broker.js';
import { useBroker } from '../helpers/harness.js';

const h = useBroker({ maxPayloadBytes: 4 * 1024 * 1024 });

describe('broker receive window', () => {
  it('announces SERVER_RECEIVE_WINDOW per stream and opens it for the connection', async () => {
    const session = http2.connect(`http://${h.broker.address}`);
    session.on('error', () => {});
    try {
      const settings = await new Promise<http2.Settings>((resolve) =>
        session.once('remoteSettings', resolve),
      );
      const windows = await eventually(() => {
        // the per-stream window comes in a second SETTINGS frame, after the session opened
        const stream = session.remoteSettings.initialWindowSize;
        const connection = session.state.remoteWindowSize ?? 0;
        return stream === SERVER_RECEIVE_WINDOW && connection > 65_535
          ? { stream, connection }
          : undefined;
      });
      expect(settings).toBeDefined();
      expect(windows).toEqual({ stream: SERVER_RECEIVE_WINDOW, connection: SERVER_RECEIVE_WINDOW });
    } finally {
      session.destroy();
    }
  });

  it('takes a batch larger than that window', async () => {
    const producer = new Producer({ address: h.broker.address });
    try {
      const payload = Buffer.alloc(3_000_000, 7);
      const part = payload;
      const items = await producer.enqueueBatch(
        [1, 2, 3].map(() => ({ tenant: 'uploads', queue: 'big', payload: part })),
      );
      const ids = items.map((item) => ('jobId' in item ? item.jobId : item.error.message));
      for (const id of ids) {
        expect((await producer.getJob('uploads', id)).rawPayload.equals(part)).toBe(true);
      }
    } finally {
      await producer.close();
    }
  });

  it('warns, and keeps the default window, when grpc-js no longer has its HTTP/2 servers where it did', () => {
    const warnings: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
        done();
      },
    });
    for (const moved of [{}, { http2Servers: new Map([[{}, {}]]) }]) {
      widenReceiveWindow(moved as unknown as Server, pino({ level: 'warn' }, sink));
    }
    expect(warnings).toEqual(
      Array(2).fill(
        "could not reach grpc-js's HTTP/2 servers (has grpc-js changed?): uploads to this broker keep HTTP/2's 64 KiB receive window",
      ),
    );
  });
});
