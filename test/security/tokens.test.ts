/**
 * The token store and the edge's auth helpers, directly: parsing of the file
 * and of ROTA_AUTH_TOKENS, digests, the constant-time compare, and the exact
 * refusals. Plus the security options of the configuration.
 */
import * as crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { helpText, loadConfig } from '../../src/config.js';
import {
  ANONYMOUS,
  AuthError,
  authenticate,
  type Credentials,
  requireRole,
  requireTenant,
} from '../../src/grpc/auth.js';
import { isLoopbackAddress } from '../../src/grpc/security.js';
import { loadTokens, parseTokenList, readTokenFile, TokenStore } from '../../src/grpc/tokens.js';
import { sha256 } from '../../src/token-digest.js';

// A pass-through spy: the real timingSafeEqual runs; the test sees every call.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const timingSafeEqual = vi.mocked(crypto.timingSafeEqual);

const A = 'alpha-token-0123456789';
const B = 'bravo-token-0123456789';
const C = 'charlie-token-0123456789';
const hex = (token: string): string => sha256(token).toString('hex');
const NO_TENANTS =
  'tenants is empty; name at least one tenant, or leave tenants out for a token of every tenant';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rota-test-tokens-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ROTA_AUTH_TOKENS', () => {
  it('reads token:role[:tenants] entries, plain or sha256', () => {
    const entries = parseTokenList(` ${A}:producer:acme, globex ;sha256:${hex(B)}:admin;${C}:worker; `);
    expect(entries.map((e) => e.principal)).toEqual([
      { id: `sha256:${hex(A).slice(0, 12)}`, role: 'producer', tenants: new Set(['acme', 'globex']) },
      { id: `sha256:${hex(B).slice(0, 12)}`, role: 'admin', tenants: undefined },
      { id: `sha256:${hex(C).slice(0, 12)}`, role: 'worker', tenants: undefined },
    ]);
    expect(entries.map((e) => e.digest.toString('hex'))).toEqual([hex(A), hex(B), hex(C)]);
  }); // prettier-ignore

  it.each([
    ['short:producer', 'ROTA_AUTH_TOKENS entry 1: token must be 16 to 4096 characters; generate one with `openssl rand -hex 32`'],
    [`${A}:boss`, 'ROTA_AUTH_TOKENS entry 1: role must be one of producer, worker, admin'],
    [`${A}`, 'ROTA_AUTH_TOKENS entry 1: role must be one of producer, worker, admin'],
    [`${B}:worker;${A}:producer:acme:extra`, 'ROTA_AUTH_TOKENS entry 2: expected token:role[:tenant1,tenant2], found more fields'],
    [`${A}:producer:bad/tenant`, 'ROTA_AUTH_TOKENS entry 1: tenant "bad/tenant" must match [A-Za-z0-9_.-]{1,64}'],
    ['sha256:abc:admin', 'ROTA_AUTH_TOKENS entry 1: a sha256: token must be followed by 64 hex digits'],
    // An empty list (a template's variable that came out empty, say) must not mean every tenant.
    [`${A}:producer:`, `ROTA_AUTH_TOKENS entry 1: ${NO_TENANTS}`],
    [`${B}:worker;${A}:producer: , `, `ROTA_AUTH_TOKENS entry 2: ${NO_TENANTS}`],
  ])('refuses %s', (text, message) => {
    expect(() => parseTokenList(text)).toThrow(message);
  }); // prettier-ignore

  it('never repeats a token in an error', () => {
    const secret = 'secret-but-bad\u00e9-token';
    expect(() => parseTokenList(`${secret}:producer`)).toThrow(
      'ROTA_AUTH_TOKENS entry 1: token must be printable ASCII without spaces',
    );
    try {
      parseTokenList(`${A}:nope`);
    } catch (error) {
      expect((error as Error).message).not.toContain(A);
    }
  });
});

describe('ROTA_AUTH_FILE', () => {
  it('reads YAML and JSON, a list or { tokens }', async () => {
    const yamlFile = path.join(dir, 'tokens.yaml');
    await writeFile(
      yamlFile,
      `tokens:\n  - token: ${A}\n    role: producer\n    tenants: [acme]\n    name: acme-api\n  - token: sha256:${hex(B)}\n    role: worker\n`,
    );
    const jsonFile = path.join(dir, 'tokens.json');
    await writeFile(jsonFile, JSON.stringify([{ token: C, role: 'admin', name: null }]));
    const fromYaml = await readTokenFile(yamlFile);
    expect(fromYaml.map((e) => e.principal)).toEqual([
      { id: 'acme-api', role: 'producer', tenants: new Set(['acme']) },
      { id: `sha256:${hex(B).slice(0, 12)}`, role: 'worker', tenants: undefined },
    ]);
    const fromJson = await readTokenFile(jsonFile);
    expect(fromJson[0]!.principal).toMatchObject({ role: 'admin', tenants: undefined });

    const store = await loadTokens({ authFile: yamlFile, authTokens: `${C}:admin` });
    expect(store?.size).toBe(3);
    expect(store?.roles()).toEqual({ producer: 1, worker: 1, admin: 1 });
  });

  it('refuses bad files with the file and entry named', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, `- token: ${A}\n  role: producer\n- role: worker\n`);
    await expect(readTokenFile(file)).rejects.toThrow(
      `ROTA_AUTH_FILE ${file}, entry 2: token is missing (the token, or sha256:<hex of its SHA-256>)`,
    );
    for (const tenants of ['[]', '', 'null']) {
      await writeFile(file, `- token: ${A}\n  role: producer\n  tenants: ${tenants}\n`);
      await expect(readTokenFile(file)).rejects.toThrow(
        `ROTA_AUTH_FILE ${file}, entry 1: ${NO_TENANTS}`,
      );
    }
    await writeFile(file, 'tokens: 3\n');
    await expect(readTokenFile(file)).rejects.toThrow(
      `ROTA_AUTH_FILE ${file} must hold a list of tokens, or { tokens: [...] }`,
    );
    await writeFile(file, '[]\n');
    await expect(loadTokens({ authFile: file, authTokens: undefined })).rejects.toThrow(
      `ROTA_AUTH_FILE ${file} holds no tokens`,
    );
    await expect(
      loadTokens({ authFile: path.join(dir, 'missing.yaml'), authTokens: undefined }),
    ).rejects.toThrow(/^ROTA_AUTH_FILE .*missing\.yaml: cannot read it/);
  });

  // The parsers' own messages quote the line (YAML) or the text around the error (JSON).
  it('tells where a file fails to parse, never quoting it', async () => {
    const refusal = (file: string): Promise<string> =>
      readTokenFile(file).then(
        () => 'read',
        (error: Error) => error.message,
      );
    const yamlFile = path.join(dir, 'syntax.yaml');
    // A name written on the token's line: the colon-space makes it a nested mapping.
    await writeFile(yamlFile, `- token: ${A} name: deploy-bot\n  role: admin\n`);
    expect(await refusal(yamlFile)).toBe(
      `ROTA_AUTH_FILE ${yamlFile} is not valid JSON or YAML (line 1, column 10: BLOCK_AS_IMPLICIT_KEY)`,
    );
    const jsonFile = path.join(dir, 'syntax.json');
    await writeFile(jsonFile, `[\n  {"token": "${A}", "role": "admin",}\n]\n`);
    expect(await refusal(jsonFile)).toBe(
      `ROTA_AUTH_FILE ${jsonFile} is not valid JSON (line 2, column ${A.length + 33})`,
    );
    await writeFile(jsonFile, `[{"token": ${A}}]`); // V8 tells no position for this one
    expect(await refusal(jsonFile)).toBe(`ROTA_AUTH_FILE ${jsonFile} is not valid JSON`);
  });

  it('refuses one token configured twice, even once plain and once hashed', async () => {
    await expect(
      loadTokens({ authFile: undefined, authTokens: `${A}:producer;sha256:${hex(A)}:admin` }),
    ).rejects.toThrow(
      `the same token is configured twice (sha256:${hex(A).slice(0, 12)} and sha256:${hex(A).slice(0, 12)}); give each token one role`,
    );
  });

  it('is off when neither source is set', async () => {
    expect(await loadTokens({ authFile: undefined, authTokens: undefined })).toBeUndefined();
  });
});

describe('TokenStore.match', () => {
  const store = new TokenStore(parseTokenList(`${A}:producer;${B}:worker:acme;${C}:admin`));

  beforeEach(() => {
    timingSafeEqual.mockClear();
  });

  it('finds the principal of a token, or none', () => {
    expect(store.match(A)?.role).toBe('producer');
    expect(store.match(B)?.tenants).toEqual(new Set(['acme']));
    expect(store.match(C)?.role).toBe('admin');
    expect(store.match('unknown-token-0123456789')).toBeUndefined();
    expect(store.match(`${A} `)).toBeUndefined();
  });

  it('compares SHA-256 digests with timingSafeEqual against every token, without an early exit', () => {
    for (const token of [A, B, C, 'unknown-token-0123456789', '']) {
      timingSafeEqual.mockClear();
      store.match(token);
      expect(timingSafeEqual).toHaveBeenCalledTimes(3);
      for (const [left, right] of timingSafeEqual.mock.calls) {
        expect((left as Buffer).length).toBe(32);
        expect((right as Buffer).length).toBe(32);
        expect(left).toEqual(sha256(token));
      }
    }
  });
});

describe('authenticate and authorize', () => {
  const store = new TokenStore(parseTokenList(`${A}:producer:acme,initech;${C}:admin`));
  /** A call sending these authorization values, without a client certificate. */
  const call = (...values: string[]): Credentials => {
    const metadata = new grpc.Metadata();
    for (const value of values) metadata.add('authorization', value);
    return { metadata, getAuthContext: () => ({}) };
  };
  const refusal = (run: () => unknown): { code: number; message: string } | undefined => {
    try {
      run();
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(AuthError);
      return { code: (error as AuthError).code, message: (error as AuthError).message };
    }
  };

  it('lets everyone in as an unscoped admin without tokens', () => {
    expect(authenticate(undefined, call())).toBe(ANONYMOUS);
    expect(ANONYMOUS).toEqual({ id: 'anonymous (auth off)', role: 'admin', tenants: undefined });
  });

  it('names a caller without a token by its verified client certificate', () => {
    const certified = (certificate: Pick<PeerCertificate, 'subject' | 'subjectaltname'>) =>
      authenticate(undefined, {
        metadata: new grpc.Metadata(),
        getAuthContext: () => ({ sslPeerCertificate: certificate as PeerCertificate }),
      });
    const noCn = { C: 'DE', O: 'Acme', OU: 'ops', ST: '', L: '' };
    const subject = { ...noCn, CN: 'night-worker' };
    expect(certified({ subject })).toEqual({ id: 'CN=night-worker', role: 'admin', tenants: undefined });
    // Several CNs (Node.js gives an array): the first.
    expect(certified({ subject: { ...subject, CN: ['a', 'b'] } }).id).toBe('CN=a');
    // No CN: the first alternative name, whole even where its value holds a comma (quoted).
    expect(certified({ subject: noCn, subjectaltname: 'URI:"spiffe://acme/a,b", DNS:x' }).id).toBe(
      'URI:"spiffe://acme/a,b"',
    );
    expect(certified({ subject: noCn, subjectaltname: 'DNS:w.acme.internal, DNS:x' }).id).toBe(
      'DNS:w.acme.internal',
    );
    // Neither: nothing names it.
    expect(certified({ subject: noCn })).toBe(ANONYMOUS);
    // With tokens the token names the caller, certificate or not.
    expect(
      authenticate(store, {
        ...call(`Bearer ${C}`),
        getAuthContext: () => ({ sslPeerCertificate: { subject } as PeerCertificate }),
      }).id,
    ).toBe(`sha256:${sha256(C).toString('hex').slice(0, 12)}`);
  }); // prettier-ignore

  it('refuses missing, malformed, repeated and unknown tokens', () => {
    expect(refusal(() => authenticate(store, call()))).toEqual({
      code: grpc.status.UNAUTHENTICATED,
      message:
        'this broker requires a bearer token: send the metadata "authorization: Bearer <token>" (clients: the token option)',
    });
    expect(refusal(() => authenticate(store, call(`Bearer ${A}`, `Bearer ${C}`)))).toEqual({
      code: grpc.status.UNAUTHENTICATED,
      message:
        '2 authorization values were sent; send exactly one "authorization: Bearer <token>"',
    });
    expect(refusal(() => authenticate(store, call(`Token ${A}`)))?.message).toBe(
      'the authorization metadata must be "Bearer <token>" (the word Bearer, a space, the token)',
    );
    expect(refusal(() => authenticate(store, call('Bearer nope-nope-nope-nope')))?.message).toBe(
      'the bearer token is not valid on this broker: send the metadata "authorization: Bearer <token>" (clients: the token option) with a token from its ROTA_AUTH_FILE or ROTA_AUTH_TOKENS',
    );
    expect(authenticate(store, call(`BEARER  ${A}`)).role).toBe('producer');
  }); // prettier-ignore

  it('checks roles and tenant scopes', () => {
    const producer = authenticate(store, call(`Bearer ${A}`));
    const admin = authenticate(store, call(`Bearer ${C}`));
    expect(refusal(() => requireRole(producer, 'admin', '/rota.v1.Admin/GetStats'))).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      message: "rota.v1.Admin/GetStats needs an admin token; this token's role is producer",
    });
    expect(refusal(() => requireRole(producer, 'worker', '/rota.v1.Broker/Work'))?.message).toBe(
      "rota.v1.Broker/Work needs a worker (or admin) token; this token's role is producer",
    );
    expect(refusal(() => requireRole(admin, 'worker', '/rota.v1.Broker/Work'))).toBeUndefined();
    expect(refusal(() => requireTenant(producer, 'globex'))).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      message: 'this token may not act for tenant "globex"; its tenants are: acme, initech',
    });
    expect(refusal(() => requireTenant(producer, 'initech'))).toBeUndefined();
    // Malformed ids are left to validation (INVALID_ARGUMENT).
    expect(refusal(() => requireTenant(producer, ''))).toBeUndefined();
    expect(refusal(() => requireTenant(admin, 'globex'))).toBeUndefined();
  }); // prettier-ignore
});

describe('configuration', () => {
  it('reads the security options from the environment and flags', () => {
    const config = loadConfig(
      {
        ROTA_AUTH_TOKENS: `${A}:admin`,
        ROTA_INSECURE: '1',
        ROTA_TLS_CERT_FILE: '/c.pem',
        ROTA_TLS_KEY_FILE: '/k.pem',
        ROTA_TLS_CLIENT_CA_FILE: '/ca.pem',
        ROTA_MAX_SESSIONS: '5',
      },
      ['--auth-file', '/tokens.yaml'],
    );
    expect(config).toMatchObject({
      authTokens: `${A}:admin`,
      authFile: '/tokens.yaml',
      insecure: true,
      tlsCertFile: '/c.pem',
      tlsKeyFile: '/k.pem',
      tlsClientCaFile: '/ca.pem',
      maxSessions: 5,
    });
    expect(loadConfig({}, [])).toMatchObject({ insecure: false, maxSessions: 10_000 });
    // A flag without a value, followed by another flag.
    expect(loadConfig({}, ['--insecure', '--max-sessions', '7'])).toMatchObject({
      insecure: true,
      maxSessions: 7,
    });
    expect(loadConfig({ ROTA_INSECURE: '1' }, ['--insecure=false']).insecure).toBe(false);
    expect(() => loadConfig({ ROTA_INSECURE: 'maybe' })).toThrow(
      'ROTA_INSECURE must be 1/true/yes/on or 0/false/no/off, got "maybe"',
    );
  });

  it('refuses half a TLS configuration', () => {
    expect(() => loadConfig({ ROTA_TLS_CERT_FILE: '/c.pem' })).toThrow(
      '--tls-cert-file (ROTA_TLS_CERT_FILE) and --tls-key-file (ROTA_TLS_KEY_FILE) must be given together',
    );
    expect(() => loadConfig({ ROTA_TLS_CLIENT_CA_FILE: '/ca.pem' })).toThrow(
      '--tls-client-ca-file (ROTA_TLS_CLIENT_CA_FILE) needs --tls-cert-file (ROTA_TLS_CERT_FILE) and --tls-key-file (ROTA_TLS_KEY_FILE): mutual TLS is TLS first',
    );
  });

  it('documents every security option in --help', () => {
    const help = helpText();
    for (const text of [
      '--auth-file <value>',
      'ROTA_AUTH_FILE',
      '--auth-tokens <value>',
      'ROTA_AUTH_TOKENS',
      'token:role[:tenant1,tenant2]',
      '--insecure ',
      'ROTA_INSECURE',
      '--tls-cert-file <value>',
      'ROTA_TLS_KEY_FILE',
      'ROTA_TLS_CLIENT_CA_FILE',
      'ROTA_MAX_SESSIONS',
      'authorization: Bearer <token>',
    ]) {
      expect(help).toContain(text);
    }
  });
});

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1:50051', true],
    ['127.1.2.3:0', true],
    ['localhost:50051', true],
    ['[::1]:50051', true],
    ['unix:/tmp/rota.sock', true],
    ['0.0.0.0:50051', false],
    ['[::]:50051', false],
    [':50051', false],
    ['10.0.0.5:50051', false],
    ['rota.internal:50051', false],
    ['dns:0.0.0.0:50051', false],
  ])('%s → %s', (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });
});
