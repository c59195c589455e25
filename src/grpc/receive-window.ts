/**
 * The broker's HTTP/2 receive window. grpc-js's server keeps HTTP/2's default
 * of 64 KiB per stream and per connection and has no option to raise it yet
 * (grpc/grpc-node#3058), so a client may send the broker 64 KiB per round
 * trip: a producer 40 ms away uploads about 1.6 MB/s however fast its link
 * (bench/remote-worker.ts measures the other direction, which the clients
 * widen themselves). Each new HTTP/2 session is given a larger window here,
 * found through the grpc-js server's private map of its HTTP/2 servers. If a
 * grpc-js upgrade moves that map, the broker logs a warning and keeps the
 * default; test/broker/receive-window.test.ts fails first.
 */
import { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';

/**
 * The broker's receive window, per stream and per connection: a producer
 * 40 ms away uploads 16 MiB in 1.4 s (16 s with 64 KiB). 8 MiB made that 0.7 s
 * but cost about 8% more broker CPU per job at full load on loopback, where
 * producers then send faster than the broker stores (BENCHMARKS.md).
 */
export const SERVER_RECEIVE_WINDOW = 1024 * 1024;

/** Widens the window of every HTTP/2 session the server accepts from now on; call once it is bound. */
export function widenReceiveWindow(server: Server, logger: Logger): void {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  const listeners =
    http2Servers instanceof Map
      ? [...(http2Servers.keys() as Iterable<unknown>)].filter((s) => s instanceof EventEmitter)
      : [];
  if (listeners.length === 0) {
    logger.warn(
      "could not reach grpc-js's HTTP/2 servers (has grpc-js changed?): uploads to this broker keep HTTP/2's 64 KiB receive window",
    );
    return;
  }
  for (const listener of listeners as EventEmitter[]) {
    listener.on('session', (session: ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(SERVER_RECEIVE_WINDOW);
        session.settings({ initialWindowSize: SERVER_RECEIVE_WINDOW });
      } catch (error) {
        // a session that closed at once; the next one is widened as usual
        logger.debug({ err: error }, "could not widen an HTTP/2 session's receive window");
      }
    });
  }
}
