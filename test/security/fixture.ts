/**
 * Security test helpers: certificates made with openssl at test time, raw
 * stubs that send a bearer token (or none) over chosen credentials, and a
 * unary call that resolves to the status it ended with.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadRotaProto } from '../../src/grpc/proto.js';
import type { AdminClient } from '../../src/generated/rota/v1/Admin.js';
import type { BrokerClient } from '../../src/generated/rota/v1/Broker.js';
import type { BrokerMessage__Output } from '../../src/generated/rota/v1/BrokerMessage.js';
import type { Hello } from '../../src/generated/rota/v1/Hello.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import type { Welcome__Output } from '../../src/generated/rota/v1/Welcome.js';
import type { WorkerMessage } from '../../src/generated/rota/v1/WorkerMessage.js';
import { eventually } from '../helpers/broker.js';

const run = promisify(execFile);

export interface Pem {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface TestPki {
  readonly dir: string;
  /** The CA that signed server and client. */
  readonly ca: Pem;
  /** For localhost and 127.0.0.1 (subjectAltName). */
  readonly server: Pem;
  /** A client certificate signed by the CA (for mutual TLS), subject CN=client. */
  readonly client: Pem;
  /** One signed by the CA without a CN, named by subjectAltName URI:spiffe://acme/worker-1. */
  readonly altNameClient: Pem;
  /** A client certificate signed by another CA, which the broker must not trust. */
  readonly rogueClient: Pem;
  dispose(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir });
}

async function pem(dir: string, name: string): Promise<Pem> {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { cert, key, certFile, keyFile };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '1',
    '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
}

async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  extensions: string,
  subject = `/CN=${name}`,
): Promise<void> {
  await writeFile(path.join(dir, `${name}.ext`), extensions);
  await openssl(dir, [
    'req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject,
  ]); // prettier-ignore
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`,
  ]); // prettier-ignore
}

/** A CA, a server certificate for localhost/127.0.0.1, two client certificates, and a rogue one. */
export async function makePki(): Promise<TestPki> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rota-test-pki-'));
  try {
    await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'rogue-ca')]);
    await Promise.all([
      makeLeaf(
        dir,
        'server',
        'ca',
        'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
      ),
      makeLeaf(dir, 'client', 'ca', 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'),
      makeLeaf(
        dir,
        'alt-name-client',
        'ca',
        'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:spiffe://acme/worker-1\n',
        '/O=Acme',
      ),
      makeLeaf(
        dir,
        'rogue',
        'rogue-ca',
        'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n',
      ),
    ]);
    const [ca, server, client, altNameClient, rogueClient] = await Promise.all([
      pem(dir, 'ca'),
      pem(dir, 'server'),
      pem(dir, 'client'),
      pem(dir, 'alt-name-client'),
      pem(dir, 'rogue'),
    ]);
    return {
      dir,
      ca,
      server,
      client,
      altNameClient,
      rogueClient,
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface Stubs {
  readonly broker: BrokerClient;
  readonly admin: AdminClient;
  close(): void;
}

/**
 * Raw stubs whose every call (streams included) carries `authorization:
 * Bearer <token>`; none for undefined; a function sets the metadata itself.
 */
export function stubs(
  address: string,
  auth: string | undefined | ((metadata: grpc.Metadata) => void),
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  channelOptions: grpc.ChannelOptions = {},
): Stubs {
  const decorate =
    typeof auth === 'function'
      ? auth
      : (metadata: grpc.Metadata) => {
          if (auth !== undefined) metadata.set('authorization', `Bearer ${auth}`);
        };
  const interceptor: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        decorate(metadata);
        next(metadata, listener);
      },
    });
  const { rota } = loadRotaProto();
  const options = { ...channelOptions, interceptors: [interceptor] };
  const broker = new rota.v1.Broker(address, credentials, options);
  const admin = new rota.v1.Admin(address, credentials, options);
  return {
    broker,
    admin,
    close() {
      broker.close();
      admin.close();
    },
  };
}

export type Outcome<Res> =
  | { readonly ok: true; readonly response: Res }
  | { readonly ok: false; readonly code: number; readonly details: string };

type UnaryMethod<Req, Res> = (
  request: Req,
  callback: (error: grpc.ServiceError | null, response?: Res) => void,
) => unknown;

/** One unary call (a bound stub method); resolves to its response or its status. */
export function outcome<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
): Promise<Outcome<Res>> {
  return new Promise((resolve) => {
    method(request, (error, response) =>
      resolve(
        error
          ? { ok: false, code: error.code, details: error.details }
          : { ok: true, response: response as Res },
      ),
    );
  });
}

/** Like `outcome`, but rejects on an error status. */
export async function ok<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
  const result = await outcome(method, request);
  if (!result.ok) throw new Error(`call failed: ${result.code} ${result.details}`);
  return result.response;
}

/** A Work stream over stubs: records what the broker sends and how the stream ended. */
export class WorkStream {
  readonly messages: BrokerMessage__Output[] = [];
  readonly leases: Lease__Output[] = [];
  status: grpc.StatusObject | undefined;
  readonly #call: grpc.ClientDuplexStream<WorkerMessage, BrokerMessage__Output>;
  #heartbeats: NodeJS.Timeout | undefined;

  constructor(s: Stubs, hello?: Hello) {
    this.#call = s.broker.Work();
    this.#call.on('data', (message: BrokerMessage__Output) => {
      this.messages.push(message);
      if (message.leases) this.leases.push(...message.leases.leases);
    });
    this.#call.on('status', (status: grpc.StatusObject) => (this.status = status));
    this.#call.on('error', () => undefined);
    if (hello) this.send({ hello: { worker_id: 'sec', capacity: 10, ...hello } });
  }

  send(message: WorkerMessage): void {
    this.#call.write(message);
  }

  welcome(): Promise<Welcome__Output> {
    return eventually(() => this.messages.find((m) => m.welcome)?.welcome ?? undefined);
  }

  /** The status the stream ended with. */
  ended(): Promise<grpc.StatusObject> {
    return eventually(() => this.status);
  }

  startHeartbeats(): void {
    this.#heartbeats = setInterval(() => this.send({ heartbeat: {} }), 200);
  }

  close(): void {
    clearInterval(this.#heartbeats);
    this.#call.cancel();
  }
}
