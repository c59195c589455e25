/**
 * Authentication and authorization at the gRPC edge.
 *
 * Every call of rota.v1.Broker and rota.v1.Admin carries `authorization:
 * Bearer <token>` metadata when the broker has tokens (ROTA_AUTH_FILE,
 * ROTA_AUTH_TOKENS). The token's role decides the RPCs:
 *   producer  Enqueue, EnqueueBatch, EnqueueStream, GetJob, CancelJob
 *   worker    Work
 *   admin     everything
 * and its tenants (left out = all) the tenants those RPCs may name. An admin
 * limited to tenants may pause and resume them with SetTenant but not set what
 * decides their share against the other tenants (see requireShareUnset). Without tokens
 * every caller is an unscoped admin, named in the logs by its client
 * certificate (mutual TLS) or as anonymous; the broker then only listens on
 * loopback unless it has client certificates or was started with --insecure
 * (see security.ts). Health and reflection stay open, so probes need no token.
 */
import { status, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { isName } from '../broker/validation.js';
import { toServiceError, withDetails } from './status.js';
import { clientCertificateName, type TransportAuth } from './tls.js';
import type { Tenant__Output } from '../generated/rota/v1/Tenant.js';
import type { Principal, Role, TokenStore } from './tokens.js';

export type { Principal, Role } from './tokens.js';

/** An UNAUTHENTICATED or PERMISSION_DENIED refusal; the message says what to fix. */
export class AuthError extends Error {
  override readonly name = 'AuthError';

  constructor(
    readonly code: status.UNAUTHENTICATED | status.PERMISSION_DENIED,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The caller when the broker has no tokens and no client certificate names
 * it: may do anything; logs say auth is off.
 */
export const ANONYMOUS: Principal = Object.freeze({
  id: 'anonymous (auth off)',
  role: 'admin',
  tenants: undefined,
});

/** What a call shows of who makes it: its metadata (a bearer token) and its TLS transport. */
export interface Credentials {
  readonly metadata: Metadata;
  getAuthContext(): TransportAuth;
}

const HOW_TO_SEND = 'send the metadata "authorization: Bearer <token>" (clients: the token option)';
const BEARER = /^Bearer +(\S+) *$/i;

/**
 * Who is calling: the token's principal, or an UNAUTHENTICATED AuthError.
 * Without tokens, an unscoped admin: named by its client certificate when the
 * handshake verified one (mutual TLS), else ANONYMOUS. With tokens the token
 * names the caller, certificate or not.
 */
export function authenticate(tokens: TokenStore | undefined, call: Credentials): Principal {
  if (tokens === undefined) {
    const certified = clientCertificateName(call.getAuthContext());
    return certified === undefined
      ? ANONYMOUS
      : { id: certified, role: 'admin', tenants: undefined };
  }
  const values = call.metadata.get('authorization');
  if (values.length === 0) {
    throw new AuthError(
      status.UNAUTHENTICATED,
      `this broker requires a bearer token: ${HOW_TO_SEND}`,
    );
  }
  if (values.length > 1) {
    throw new AuthError(
      status.UNAUTHENTICATED,
      `${values.length} authorization values were sent; send exactly one "authorization: Bearer <token>"`,
    );
  }
  const match = typeof values[0] === 'string' ? BEARER.exec(values[0]) : null;
  if (!match) {
    throw new AuthError(
      status.UNAUTHENTICATED,
      'the authorization metadata must be "Bearer <token>" (the word Bearer, a space, the token)',
    );
  }
  const principal = tokens.match(match[1]!);
  if (!principal) {
    throw new AuthError(
      status.UNAUTHENTICATED,
      `the bearer token is not valid on this broker: ${HOW_TO_SEND} with a token from its ROTA_AUTH_FILE or ROTA_AUTH_TOKENS`,
    );
  }
  return principal;
}

/** Refuses a principal whose role may not call `method` (e.g. `/rota.v1.Admin/SetTenant`). */
export function requireRole(principal: Principal, role: Role, method: string): void {
  if (principal.role === role || principal.role === 'admin') return;
  const needs = role === 'admin' ? 'an admin token' : `a ${role} (or admin) token`;
  throw new AuthError(
    status.PERMISSION_DENIED,
    `${method.replace(/^\//, '')} needs ${needs}; this token's role is ${principal.role}`,
  );
}

/** Whether the principal may act for `tenant`. */
export const mayActFor = (principal: Principal, tenant: string): boolean =>
  principal.tenants === undefined || principal.tenants.has(tenant);

/** The PERMISSION_DENIED refusal for a tenant outside the principal's scope. */
export function tenantDenied(principal: Principal, tenant: string): AuthError {
  const scope = [...(principal.tenants ?? [])].sort().join(', ');
  return new AuthError(
    status.PERMISSION_DENIED,
    `this token may not act for tenant "${tenant}"; its tenants are: ${scope}`,
  );
}

/**
 * Refuses a tenant outside the principal's scope. A malformed tenant id is left
 * to validation (INVALID_ARGUMENT): no tenant of that name can exist.
 */
export function requireTenant(principal: Principal, tenant: string): void {
  if (mayActFor(principal, tenant) || !isName(tenant)) return;
  throw tenantDenied(principal, tenant);
}

/** The fields of a tenant, and of its queue overrides, that decide its share against the other tenants. */
const TENANT_SHARE = ['weight', 'rate', 'burst', 'max_in_flight', 'max_queued'] as const;
const QUEUE_SHARE = ['weight', 'rate', 'burst', 'max_in_flight'] as const;

/**
 * Refuses a SetTenant of an admin limited to tenants that sets any field of
 * their share, whatever its value (the value stored already too: a request is
 * judged by itself, not by what it happens to find), naming every such field,
 * or a queue override that sets nothing (it would clear the queue's stored
 * share); `paused`, of the tenant and of its queues, is all it may set. Called before
 * anything is stored, so a refused call changes nothing.
 */
export function requireShareUnset(principal: Principal, tenant: Tenant__Output | null): void {
  if (principal.tenants === undefined || !tenant) return;
  const fields: string[] = TENANT_SHARE.filter((field) => tenant[field] !== undefined);
  for (const override of tenant.queues) {
    const set = QUEUE_SHARE.filter((field) => override[field] !== undefined);
    for (const field of set) fields.push(`queues[${override.queue}].${field}`);
    // an override that sets nothing clears the queue's stored weight and caps
    if (set.length === 0 && override.paused === undefined) {
      fields.push(`queues[${override.queue}] (an override that sets nothing clears the queue's)`);
    }
  }
  if (fields.length === 0) return;
  const scope = [...principal.tenants].sort().join(', ');
  throw new AuthError(
    status.PERMISSION_DENIED,
    `this token is limited to tenants (${scope}): with SetTenant it may pause and resume them, ` +
      `but not set ${fields.join(', ')}, which decide their share against the other tenants; ` +
      'leave those fields unset, or use an admin token of every tenant (one without tenants)',
  );
}

/** Any error to the status a call ends with: AuthError as is, the rest by the domain table. */
export function toCallError(error: unknown): Partial<ServiceError> {
  if (error instanceof AuthError) {
    return withDetails(error.code, error.message);
  }
  return toServiceError(error);
}
