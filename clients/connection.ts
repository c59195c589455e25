/** What the clients share: where the broker is and how to reach it. */
import * as grpc from '@grpc/grpc-js';

import type { AdminClient } from '../src/generated/rota/v1/Admin.js';
import type { BrokerClient } from '../src/generated/rota/v1/Broker.js';
import { loadRotaProto } from '../src/grpc/proto.js';
import { toRotaError } from './errors.js';
import { shown } from './input-shapes.js';

/** TLS to the broker. PEM contents (not file names), as Buffers or strings. */
export interface TlsOptions {
  /** CA certificate(s) that signed the broker's certificate. @default the system's trusted roots */
  ca?: Buffer | string;
  /** Client certificate (chain), for a broker that requires one (mutual TLS). Needs `key`. */
  cert?: Buffer | string;
  /** Private key of `cert`. */
  key?: Buffer | string;
  /**
   * Name the broker's certificate must carry, when it differs from the host of
   * `address` (e.g. connecting by IP to a certificate issued for a DNS name).
   * @default the host of `address`
   */
  serverName?: string;
}

export interface ConnectionOptions {
  /**
   * Broker address: `host:port`, or any gRPC target, such as every broker of
   * one Redis (`ipv4:10.0.0.1:50051,10.0.0.2:50051`, `dns:///rota.internal:50051`):
   * the channel uses the first that answers and moves on when it goes away.
   * @default '127.0.0.1:50051'
   */
  address?: string;
  /** Connect with TLS (and a client certificate, for mutual TLS). Not together with `credentials`. */
  tls?: TlsOptions;
  /**
   * Channel credentials, for full control. Not together with `tls`.
   * @default grpc.credentials.createInsecure() (plain text; TLS when `tls` is given)
   */
  credentials?: grpc.ChannelCredentials;
  /**
   * Bearer token: sent as `authorization: Bearer <token>` with every call,
   * the Work stream included. Not together with an `authorization` entry in `metadata`.
   */
  token?: string;
  /** Metadata sent with every call. */
  metadata?: Record<string, string>;
  /** Client interceptors (tracing, metrics, tests that count calls). */
  interceptors?: grpc.Interceptor[];
  /** Raw gRPC channel options (keepalive, message sizes). */
  channelOptions?: grpc.ChannelOptions;
}

export const DEFAULT_ADDRESS = '127.0.0.1:50051';

export interface Connection<Client = BrokerClient> {
  readonly client: Client;
  /** A fresh copy of the configured metadata (grpc-js may mutate what it is given). */
  metadata(): grpc.Metadata;
}

const toBuffer = (pem: Buffer | string | undefined): Buffer | null =>
  pem === undefined ? null : Buffer.isBuffer(pem) ? pem : Buffer.from(pem);

/** The channel credentials and channel options the connection options ask for. */
function channelSecurity(options: ConnectionOptions): {
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
} {
  const { tls } = options;
  if (tls === undefined) {
    return {
      credentials: options.credentials ?? grpc.credentials.createInsecure(),
      channelOptions: {},
    };
  }
  if (options.credentials !== undefined) {
    throw new TypeError('tls and credentials are both set; give one (tls builds the credentials)');
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError(
      'tls.cert and tls.key must be given together (a client certificate and its key)',
    );
  }
  return {
    credentials: grpc.credentials.createSsl(
      toBuffer(tls.ca),
      toBuffer(tls.key),
      toBuffer(tls.cert),
    ),
    channelOptions:
      tls.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': tls.serverName },
  };
}

function baseMetadata(options: ConnectionOptions): grpc.Metadata {
  const base = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) base.set(key, value);
  const { token } = options;
  if (token !== undefined) {
    if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
      throw new TypeError(
        'token must be a non-empty string of printable characters without spaces',
      );
    }
    if (base.get('authorization').length > 0) {
      throw new TypeError('token and metadata.authorization are both set; give one');
    }
    base.set('authorization', `Bearer ${token}`);
  }
  return base;
}

type ServiceClient<Client> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => Client;

/** A channel to the `Broker` service (Producer, Worker). */
export function connect(options: ConnectionOptions): Connection {
  return open(options, loadRotaProto().rota.v1.Broker);
}

/** A channel to the `Admin` service (Admin). */
export function connectAdmin(options: ConnectionOptions): Connection<AdminClient> {
  return open(options, loadRotaProto().rota.v1.Admin);
}

/**
 * The HTTP/2 receive window the clients open, per stream and per connection.
 * HTTP/2's default of 64 KiB lets the broker send 64 KiB per round trip: a
 * worker 40 ms away took 18 s for 16 leases of 1 MiB, 0.6 s with this window
 * (bench/remote-worker.ts).
 * It bounds only the bytes on the wire not yet read, which the lease credits
 * bound already.
 */
export const CLIENT_RECEIVE_WINDOW = 8 * 1024 * 1024;

function open<Client>(
  options: ConnectionOptions,
  Service: ServiceClient<Client>,
): Connection<Client> {
  const security = channelSecurity(options);
  const base = baseMetadata(options);
  const client = new Service(options.address ?? DEFAULT_ADDRESS, security.credentials, {
    // The broker bounds what it sends (ROTA_MAX_PAYLOAD_BYTES); grpc-js's own
    // 4 MiB default would refuse the lease or job record of a job the broker
    // took, once that limit is raised past about 2 MiB.
    'grpc.max_receive_message_length': -1,
    // A broker host that vanishes without a reset (power loss, a network
    // partition) leaves the calls on its connection waiting until TCP gives up,
    // many minutes, and for ever those without a deadline (the Producer's by
    // default). Pings while calls are open find such a connection within 25 s
    // and fail its calls with UNAVAILABLE; the next call connects afresh.
    'grpc.keepalive_time_ms': 15_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc-node.flow_control_window': CLIENT_RECEIVE_WINDOW,
    ...security.channelOptions,
    ...options.channelOptions,
    ...(options.interceptors === undefined ? {} : { interceptors: options.interceptors }),
  });
  return { client, metadata: () => base.clone() };
}

/** What a unary call of a generated client takes after its request. */
export type CallTail<Response> = [
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: grpc.requestCallback<Response>,
];

/**
 * One unary call as a promise: `start` gets the connection's metadata, the
 * call options (a deadline `timeoutMs` from now, if given) and the callback.
 * Errors are RotaErrors.
 */
export function unary<Response>(
  connection: Connection<unknown>,
  timeoutMs: number | undefined,
  start: (...call: CallTail<Response>) => void,
): Promise<Response> {
  const options = timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
  return new Promise((resolve, reject) =>
    start(connection.metadata(), options, (err, response) =>
      err !== null || response === undefined
        ? reject(toRotaError(err ?? new Error('the broker sent an empty reply')))
        : resolve(response),
    ),
  );
}

/**
 * Longest wait a Node.js timer takes: setTimeout fires after 1 ms for any
 * longer one (Infinity too), so a deadline past it would expire at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The longest call deadline: grpc-js sends it to the broker in whole seconds,
 * rounded up, and at MAX_TIMER_MS that passed Node's timer limit there, so
 * the broker's deadline timer fired at once (DEADLINE_EXCEEDED, now and then).
 */
const MAX_CALL_TIMEOUT_MS = MAX_TIMER_MS - 1000;

/** A call deadline option, checked: undefined (none) or a number of ms from 1 to MAX_CALL_TIMEOUT_MS. */
export function checkTimeoutMs(owner: string, timeoutMs: number | undefined): number | undefined {
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== 'number' || !(timeoutMs > 0 && timeoutMs <= MAX_CALL_TIMEOUT_MS))
  ) {
    throw new TypeError(
      `${owner}: timeoutMs must be a number of ms from 1 to ${MAX_CALL_TIMEOUT_MS} (24.8 days; leave it unset for no deadline), got ${shown(timeoutMs)}`,
    );
  }
  return timeoutMs;
}
