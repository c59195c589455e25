/**
 * What the server needs before it binds: its credentials (TLS), the token store
 * (auth), and the loopback rule: without tokens or client certificates anyone
 * who reaches the port may enqueue, take and cancel any tenant's jobs, so the
 * broker then only listens on a loopback address, unless told --insecure. The
 * metrics endpoint follows the same rule with its own token: its series name
 * every tenant and queue.
 */
import { isIP } from 'node:net';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConfigError, type BrokerConfig } from '../config.js';
import { serverCredentials, type TlsMode } from './tls.js';
import { loadTokens, toDigest, type TokenStore } from './tokens.js';

export interface ServerSecurity {
  readonly credentials: ServerCredentials;
  /** Undefined = no auth: every caller is an unscoped admin. */
  readonly tokens: TokenStore | undefined;
  readonly tls: TlsMode;
  /** SHA-256 of the token a metrics scrape must send; undefined = scrapes are open. */
  readonly metricsDigest: Buffer | undefined;
}

/** The host part of a gRPC bind address (`host:port`, `[v6]:port`, `dns:host:port`). */
function hostOf(address: string): string {
  const bare = address.replace(/^(dns|ipv4|ipv6):(\/\/)?/, '');
  if (bare.startsWith('[')) return bare.slice(1, bare.indexOf(']'));
  const colon = bare.lastIndexOf(':');
  return colon === -1 ? bare : bare.slice(0, colon);
}

/** True when only this machine can reach the address (loopback IPs, localhost, unix sockets). */
export function isLoopbackAddress(address: string): boolean {
  if (/^unix(-abstract)?:/.test(address)) return true;
  const host = hostOf(address).toLowerCase();
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host);
  return false;
}

export async function loadSecurity(config: BrokerConfig, logger: Logger): Promise<ServerSecurity> {
  // One after another, so that with both wrong the error is always the tokens'.
  const tokens = await loadTokens(config);
  const { credentials, mode } = await serverCredentials(config);
  const loopback = isLoopbackAddress(config.grpcAddress);
  const authenticated = tokens !== undefined || mode === 'mtls';
  if (!authenticated && !loopback) {
    if (!config.insecure) {
      throw new ConfigError(
        `refusing to listen on ${config.grpcAddress} without authentication: anyone who reaches it could enqueue, take and cancel every tenant's jobs. ` +
          'Configure bearer tokens (ROTA_AUTH_FILE or ROTA_AUTH_TOKENS) or client certificates (ROTA_TLS_CLIENT_CA_FILE), ' +
          'listen on a loopback address (ROTA_GRPC_ADDRESS=127.0.0.1:50051), or accept the risk with --insecure (ROTA_INSECURE=1)',
      );
    }
    logger.warn(
      { address: config.grpcAddress },
      'INSECURE: listening on a non-loopback address without authentication (--insecure); anyone who reaches it can use every RPC',
    );
  }
  if (tokens !== undefined && mode === 'off' && !loopback) {
    logger.warn(
      { address: config.grpcAddress },
      'bearer tokens travel in clear text: configure TLS (ROTA_TLS_CERT_FILE, ROTA_TLS_KEY_FILE)',
    );
  }
  const metricsDigest = metricsTokenDigest(config, logger);
  logger.info(
    {
      auth: tokens === undefined ? 'off' : tokens.roles(),
      tls: mode,
      metricsAuth: metricsDigest === undefined ? 'off' : 'token',
    },
    'transport security',
  );
  return { credentials, tokens, tls: mode, metricsDigest };
}

/** The metrics token's digest, after the loopback rule for the metrics address. */
function metricsTokenDigest(config: BrokerConfig, logger: Logger): Buffer | undefined {
  const digest =
    config.metricsToken === undefined
      ? undefined
      : toDigest(config.metricsToken, 'ROTA_METRICS_TOKEN (--metrics-token)');
  const address = config.metricsAddress;
  if (digest !== undefined || address === undefined || isLoopbackAddress(address)) return digest;
  if (!config.insecure) {
    throw new ConfigError(
      `refusing to serve metrics on ${address} without a token: they name every tenant and queue. ` +
        'Set ROTA_METRICS_TOKEN (--metrics-token), serve them on a loopback address (ROTA_METRICS_ADDRESS=127.0.0.1:9464), ' +
        'or accept the risk with --insecure (ROTA_INSECURE=1)',
    );
  }
  logger.warn(
    { address },
    'INSECURE: serving metrics on a non-loopback address without a token (--insecure); anyone who reaches it can read every tenant and queue name',
  );
  return undefined;
}
