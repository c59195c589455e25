/**
 * TLS of the gRPC server: ROTA_TLS_CERT_FILE and ROTA_TLS_KEY_FILE (PEM) turn
 * it on; ROTA_TLS_CLIENT_CA_FILE also makes it mutual: a client must present a
 * certificate signed by that CA, or the handshake fails. The certificate then
 * names the caller in the logs of a broker without tokens.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, type PeerCertificate } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
import { ConfigError } from '../config.js';

export type TlsMode = 'off' | 'tls' | 'mtls';

export interface TlsFiles {
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  readonly tlsClientCaFile: string | undefined;
}

async function readPem(path: string, option: string): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (error) {
    throw new ConfigError(`${option} ${path}: cannot read it (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (!pem.includes('-----BEGIN ')) {
    throw new ConfigError(`${option} ${path} is not a PEM file (no "-----BEGIN" line)`);
  }
  return pem;
}

/** The server's credentials: insecure, TLS, or TLS with client certificates. */
export async function serverCredentials(
  files: TlsFiles,
): Promise<{ credentials: ServerCredentials; mode: TlsMode }> {
  const { tlsCertFile, tlsKeyFile, tlsClientCaFile } = files;
  if (tlsCertFile === undefined || tlsKeyFile === undefined) {
    if (tlsCertFile !== undefined || tlsKeyFile !== undefined || tlsClientCaFile !== undefined) {
      throw new TypeError(
        'ROTA_TLS_CERT_FILE and ROTA_TLS_KEY_FILE must be given together (ROTA_TLS_CLIENT_CA_FILE needs both)',
      );
    }
    return { credentials: ServerCredentials.createInsecure(), mode: 'off' };
  }
  // One after another: read at once, with two unreadable the error named
  // whichever read failed first, now one file, now the other.
  const cert = await readPem(tlsCertFile, 'ROTA_TLS_CERT_FILE');
  const key = await readPem(tlsKeyFile, 'ROTA_TLS_KEY_FILE');
  const clientCa =
    tlsClientCaFile === undefined
      ? undefined
      : await readPem(tlsClientCaFile, 'ROTA_TLS_CLIENT_CA_FILE');
  let credentials: ServerCredentials;
  try {
    // Fails now, not at bind time, when the key does not match the certificate.
    createSecureContext({ cert, key, ...(clientCa === undefined ? {} : { ca: clientCa }) });
    credentials = ServerCredentials.createSsl(
      clientCa ?? null,
      [{ cert_chain: cert, private_key: key }],
      clientCa !== undefined,
    );
  } catch (error) {
    throw new ConfigError(
      `TLS files rejected (ROTA_TLS_CERT_FILE ${tlsCertFile}, ROTA_TLS_KEY_FILE ${tlsKeyFile}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { credentials, mode: clientCa === undefined ? 'tls' : 'mtls' };
}

/** What grpc-js tells of a call's transport: its client certificate, once verified. */
export interface TransportAuth {
  /** Set only when the TLS handshake verified it against ROTA_TLS_CLIENT_CA_FILE. */
  readonly sslPeerCertificate?: PeerCertificate | undefined;
}

/** The first entry of a subjectaltname (`DNS:a, URI:"b,c"`: values with a comma are quoted). */
const FIRST_ALT_NAME = /^[^:,]+:(?:"(?:[^"\\]|\\.)*"|[^,]*)/;

/**
 * Who a verified client certificate names, for the logs: `CN=` and its
 * subject's common name, or, without one, its first subject alternative name
 * as Node.js writes it (`DNS:worker.acme.internal`, `URI:spiffe://acme/worker`);
 * undefined without a verified certificate, or for one with neither. Only that
 * name: it is what an operator looks for in an audit line, and the rest of the
 * certificate (issuer, serial, other names) would only lengthen every line.
 */
export function clientCertificateName(transport: TransportAuth): string | undefined {
  const certificate = transport.sslPeerCertificate;
  if (certificate === undefined) return undefined;
  // A subject may hold several CNs (Node.js gives an array then): the first names it.
  const cn = [certificate.subject?.CN ?? []].flat()[0];
  if (cn) return `CN=${cn}`;
  return FIRST_ALT_NAME.exec(certificate.subjectaltname ?? '')?.[0];
}
