/**
 * Bearer tokens for the fuzzers: the broker's token table (every role, of
 * every tenant and limited to some), the credentials a fuzzed call carries
 * (one of those tokens, mostly the unscoped one of the role at hand; none; an
 * unknown token; malformed metadata; a token's own sha256: digest), and what
 * README "Security" says the broker must answer each: UNAUTHENTICATED for no
 * valid token, PERMISSION_DENIED for a role or tenant outside the token's.
 *
 * ROTA_FUZZ_AUTH=off runs the fuzzers against a broker without tokens, as
 * before there were any: every call then goes as the unscoped admin it is.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

import { isName } from '../../src/broker/validation.js';
import type { ClusterAuth } from '../faults/cluster.js';
import { FUZZ_TENANTS } from './enqueue-gen.js';
import { GOOD_TENANTS } from './fixture.js';
import type { Rng } from './prng.js';

export type Role = 'producer' | 'worker' | 'admin';

/** Who a call is made as, in the broker's terms; undefined = no valid token. */
export interface Caller {
  readonly name: string;
  readonly role: Role;
  /** undefined = every tenant. */
  readonly tenants: ReadonlySet<string> | undefined;
}

interface FuzzToken extends Caller {
  readonly secret: string;
}

const [A, B, C, D] = FUZZ_TENANTS as [string, string, string, string];

function token(name: string, role: Role, tenants?: readonly string[]): FuzzToken {
  return {
    name,
    role,
    tenants: tenants && new Set(tenants),
    secret: `fuzz-${name}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`,
  };
}

const TOKENS: readonly FuzzToken[] = [
  token('producer', 'producer'),
  token('producer-ab', 'producer', [A, B]),
  token('producer-c', 'producer', [C]),
  token('worker', 'worker'),
  token('worker-a', 'worker', [A]),
  token('worker-bc', 'worker', [B, C]),
  token('admin', 'admin'),
  token('admin-d', 'admin', [D]),
  token('admin-ab', 'admin', [A, B]),
  // The well-behaved pair's (fixture.ts): of its own tenants only.
  token('good-producer', 'producer', GOOD_TENANTS),
  token('good-worker', 'worker', GOOD_TENANTS),
];

const byName = (name: string): FuzzToken => TOKENS.find((t) => t.name === name)!;

export const AUTH_ON = (process.env.ROTA_FUZZ_AUTH ?? 'tokens') !== 'off';

/** The caller of a broker without tokens: an unscoped admin. */
const ANONYMOUS: Caller = { name: 'anonymous', role: 'admin', tenants: undefined };

/** The broker's tokens and those of the cluster's own processes; undefined with ROTA_FUZZ_AUTH=off. */
export const CLUSTER_AUTH: ClusterAuth | undefined = AUTH_ON
  ? {
      tokens: TOKENS.map(
        (t) => `${t.secret}:${t.role}${t.tenants ? `:${[...t.tenants].join(',')}` : ''}`,
      ).join(';'),
      producer: byName('good-producer').secret,
      worker: byName('good-worker').secret,
      admin: byName('admin').secret,
    }
  : undefined;

/** The unscoped token of `role` (the broker's own checks use them), or none with auth off. */
export function tokenOf(role: Role): string | undefined {
  return AUTH_ON ? byName(role).secret : undefined;
}

export interface Credential {
  /** For failure messages. */
  readonly label: string;
  readonly metadata: grpc.Metadata;
  readonly caller: Caller | undefined;
}

const bearer = (value: string): grpc.Metadata => {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', value);
  return metadata;
};

/**
 * The credential of one fuzzed call that needs `role`: mostly the unscoped
 * token of that role (the calls then reach as deep as without auth), else any
 * token of the table, or none, an unknown one, or malformed metadata.
 */
export function credential(rng: Rng, role: Role): Credential {
  if (!AUTH_ON) return { label: 'no auth', metadata: new grpc.Metadata(), caller: ANONYMOUS };
  const known = (t: FuzzToken): Credential => ({
    label: t.name,
    metadata: bearer(`Bearer ${t.secret}`),
    caller: t,
  });
  const refused = (label: string, metadata: grpc.Metadata): Credential => ({
    label,
    metadata,
    caller: undefined,
  });
  return rng.weighted<() => Credential>([
    [10, () => known(byName(role))],
    [8, () => known(rng.pick(TOKENS))],
    [1, () => refused('none', new grpc.Metadata())],
    [1, () => refused('unknown', bearer(`Bearer ${rng.ascii(32).replace(/\s/g, '_')}`))],
    [
      0.5,
      () => {
        const t = rng.pick(TOKENS);
        return rng.weighted<() => Credential>([
          [1, () => refused('digest', bearer(`Bearer sha256:${digest(t.secret)}`))],
          [1, () => refused('no Bearer', bearer(t.secret))],
          [1, () => refused('Basic', bearer(`Basic ${t.secret}`))],
          [1, () => refused('Bearer only', bearer('Bearer '))],
          // Not twice: grpc-js sends one value at most (HTTP/2 refuses a repeated authorization).
          [1, () => refused('token+1', bearer(`Bearer ${t.secret}x`))],
        ])();
      },
    ],
  ])();
}

const digest = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/** Whether `caller` may act for `tenant`. */
export const covers = (caller: Caller, tenant: string): boolean =>
  caller.tenants === undefined || caller.tenants.has(tenant);

/**
 * The code a call that needs `role` and names `tenants` must be refused with,
 * or undefined when its token lets it through. A malformed tenant id is left to
 * validation: no tenant of that name can exist.
 */
export function refusalFor(
  caller: Caller | undefined,
  role: Role,
  tenants: readonly string[] = [],
): grpc.status | undefined {
  if (caller === undefined) return grpc.status.UNAUTHENTICATED;
  if (caller.role !== role && caller.role !== 'admin') return grpc.status.PERMISSION_DENIED;
  if (tenants.some((tenant) => isName(tenant) && !covers(caller, tenant))) {
    return grpc.status.PERMISSION_DENIED;
  }
  return undefined;
}

/** The codes only a refusal for the token may have. */
export const AUTH_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
]);

/** The role each fuzzed RPC needs (README "Security"): Admin's need an admin token. */
export function roleOf(method: string): Role {
  if (method === 'Work') return 'worker';
  return ['Enqueue', 'EnqueueBatch', 'EnqueueStream', 'GetJob', 'CancelJob'].includes(method)
    ? 'producer'
    : 'admin';
}

/** A decoded request, as far as its tenants go. */
interface Named {
  readonly tenant?: string | { readonly tenant?: string } | null;
}

/** Fields of a tenant, and of its queues' overrides, that decide its share. */
const TENANT_SHARE = ['weight', 'rate', 'burst', 'max_in_flight', 'max_queued'];
const QUEUE_SHARE = ['weight', 'rate', 'burst', 'max_in_flight'];

type Settings = Record<string, unknown> & {
  readonly queues?: ReadonlyArray<Record<string, unknown>>;
};

/**
 * The code `method`'s call must be refused with for its token, or undefined;
 * `request` is the request as the broker decodes it, or undefined when it does
 * not decode (then only the token and its role can be judged). EnqueueBatch's
 * items are judged one by one (ledger.ts). A SetTenant of an admin limited to
 * tenants that sets any field of their share (or a queue override that sets
 * nothing, which would clear the queue's) is PERMISSION_DENIED too.
 */
export function expectedRefusal(
  method: string,
  request: Named | undefined,
  caller: Caller | undefined,
): grpc.status | undefined {
  const role = roleOf(method);
  if (request === undefined || method === 'EnqueueBatch' || method === 'ListTenants') {
    return refusalFor(caller, role);
  }
  const named = request.tenant;
  const tenant = typeof named === 'string' ? named : (named?.tenant ?? '');
  const refusal = refusalFor(caller, role, [tenant]);
  if (refusal !== undefined || method !== 'SetTenant' || caller?.tenants === undefined) {
    return refusal;
  }
  const settings = named as Settings | null;
  if (!settings) return undefined;
  const setsShare =
    TENANT_SHARE.some((field) => settings[field] !== undefined && settings[field] !== null) ||
    (settings.queues ?? []).some(
      (queue) =>
        QUEUE_SHARE.some((field) => queue[field] !== undefined && queue[field] !== null) ||
        queue.paused === undefined ||
        queue.paused === null,
    );
  return setsShare ? grpc.status.PERMISSION_DENIED : undefined;
}
