/**
 * The audit trail, written at the gRPC edge because only it knows who calls.
 *
 * Every call that changes state (SetTenant, CancelJob, PurgeQueue,
 * ReplayDeadLetters, DeleteDeadLetters) logs one info line: the caller (its
 * token's log id, see Principal.id), the RPC, what it targets, and its outcome
 * (counts, or the status code); without tokens, the caller is its client
 * certificate's name (mutual TLS) or anonymous. A call refused for its token
 * (UNAUTHENTICATED, PERMISSION_DENIED), whatever the RPC, logs a warning
 * instead, throttled: a client that retries a bad token in a loop would
 * otherwise write a line per attempt. No line holds a token: callers are named
 * by log id, and the refusals' messages never repeat the token.
 */
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ThrottledWarning, ThrottledWarnings } from '../broker/throttled-warning.js';
import { AuthError, authenticate, requireRole, toCallError, type Credentials } from './auth.js';
import type { Principal, Role, TokenStore } from './tokens.js';

/** A refusal warning, then at most one per kind this often, with how many were left out. */
export const REFUSAL_WARNING_EVERY_MS = 10_000;

/** The RPC's name in a call path (`/rota.v1.Admin/PurgeQueue` → `PurgeQueue`). */
export const rpcOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** A call that changes state, as its audit line names it. */
export interface AuditedCall {
  readonly caller: Principal;
  readonly rpc: string;
  /** What it changes (tenant, queue, how many job ids, the settings given); never payloads. */
  readonly target: Readonly<Record<string, unknown>>;
}

/** Where a refused call came from, as far as the edge knows. */
export interface RefusedCall {
  readonly rpc: string;
  /** The client's address (`10.0.0.7:51234`): who to look for when no token names it. */
  readonly peer: string;
  /** The token's principal, when it was valid but not allowed. */
  readonly caller?: Principal | undefined;
}

export class Audit {
  readonly #unauthenticated: ThrottledWarning;
  readonly #denied: ThrottledWarning;

  /** `warnings`: the broker's, so that its stop closes the refusal warnings too. */
  constructor(
    private readonly logger: Logger,
    warnings: ThrottledWarnings,
  ) {
    this.#unauthenticated = warnings.make(
      'call refused: no valid token (UNAUTHENTICATED)',
      REFUSAL_WARNING_EVERY_MS,
    );
    this.#denied = warnings.make(
      'call refused: the token may not make it (PERMISSION_DENIED)',
      REFUSAL_WARNING_EVERY_MS,
    );
  }

  /** A call that changed state; `done` says what it did, `outcome` the counts. */
  changed(call: AuditedCall, done: string, outcome: Readonly<Record<string, unknown>>): void {
    this.logger.info(
      { caller: call.caller.id, rpc: call.rpc, ...call.target, outcome: 'OK', ...outcome },
      done,
    );
  }

  /** A call that was to change state and ended with an error (refusals for the token go to `refused`). */
  failed(call: AuditedCall, error: unknown): void {
    const { code, details } = toCallError(error);
    this.logger.info(
      {
        caller: call.caller.id,
        rpc: call.rpc,
        ...call.target,
        outcome: status[code ?? status.UNKNOWN],
        error: details,
      },
      `${call.rpc} failed`,
    );
  }

  /**
   * Who makes `call`, checked against `role`: its principal, or the
   * UNAUTHENTICATED or PERMISSION_DENIED AuthError, thrown once logged.
   */
  admit(
    tokens: TokenStore | undefined,
    call: Credentials & { getPath(): string; getPeer(): string },
    role: Role,
  ): Principal {
    let caller: Principal | undefined;
    try {
      caller = authenticate(tokens, call);
      requireRole(caller, role, call.getPath());
      return caller;
    } catch (error) {
      if (error instanceof AuthError) {
        this.refused({ rpc: rpcOf(call.getPath()), peer: call.getPeer(), caller }, error);
      }
      throw error;
    }
  }

  /** A call refused for its token: a throttled warning. */
  refused(call: RefusedCall, error: AuthError): void {
    const warning = error.code === status.UNAUTHENTICATED ? this.#unauthenticated : this.#denied;
    warning.warn(() => ({
      rpc: call.rpc,
      peer: call.peer,
      ...(call.caller ? { caller: call.caller.id } : {}),
      reason: error.message,
    }));
  }
}
