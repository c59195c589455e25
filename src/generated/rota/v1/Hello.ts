// Original file: proto/rota/v1/rota.proto

import type { LeaseRef as _rota_v1_LeaseRef, LeaseRef__Output as _rota_v1_LeaseRef__Output } from '../../rota/v1/LeaseRef.js';

export interface Hello {
  /**
   * Free-form worker name for logs (hostname:pid, say). Required, ≤ 128 chars.
   */
  'worker_id'?: (string);
  /**
   * Queues to receive jobs from. At least one. With several, the session's
   * free slots are offered to them in turn, beginning after the queue it last
   * got jobs from; the order here gives no priority.
   */
  'queues'?: (string)[];
  /**
   * Leases the worker can hold at once, 1 to the broker's limit (default 1000).
   */
  'capacity'?: (number);
  /**
   * Leases held from a previous session, to re-attach. A job named twice
   * counts once; a ref whose tenant is not the job's is refused. At most the
   * broker's session capacity limit (ROTA_MAX_SESSION_CAPACITY, default 1000);
   * more ends the stream with INVALID_ARGUMENT.
   */
  'in_flight'?: (_rota_v1_LeaseRef)[];
  /**
   * Only receive jobs of these tenants (a dedicated worker). Empty = all.
   * With a token limited to some tenants, every one named here (and in
   * in_flight) must be among them (else PERMISSION_DENIED); empty = the
   * token's tenants.
   */
  'tenants'?: (string)[];
  /**
   * Protocol version the worker speaks. 0 is read as 1.
   */
  'protocol_version'?: (number);
}

export interface Hello__Output {
  /**
   * Free-form worker name for logs (hostname:pid, say). Required, ≤ 128 chars.
   */
  'worker_id': (string);
  /**
   * Queues to receive jobs from. At least one. With several, the session's
   * free slots are offered to them in turn, beginning after the queue it last
   * got jobs from; the order here gives no priority.
   */
  'queues': (string)[];
  /**
   * Leases the worker can hold at once, 1 to the broker's limit (default 1000).
   */
  'capacity': (number);
  /**
   * Leases held from a previous session, to re-attach. A job named twice
   * counts once; a ref whose tenant is not the job's is refused. At most the
   * broker's session capacity limit (ROTA_MAX_SESSION_CAPACITY, default 1000);
   * more ends the stream with INVALID_ARGUMENT.
   */
  'in_flight': (_rota_v1_LeaseRef__Output)[];
  /**
   * Only receive jobs of these tenants (a dedicated worker). Empty = all.
   * With a token limited to some tenants, every one named here (and in
   * in_flight) must be among them (else PERMISSION_DENIED); empty = the
   * token's tenants.
   */
  'tenants': (string)[];
  /**
   * Protocol version the worker speaks. 0 is read as 1.
   */
  'protocol_version': (number);
}
