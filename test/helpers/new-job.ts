import { randomUUID } from 'node:crypto';

import type { FetchedJob, NewJob } from '../../src/store/types.js';

/**
 * A job as the broker hands it to the store, runnable at `now`, with plain
 * defaults; `fields` override them. For tests and benches of the store alone.
 */
export function newJob(now: number, fields: Partial<NewJob> = {}): NewJob {
  return {
    id: randomUUID(),
    tenant: 't',
    queue: 'q',
    payload: Buffer.from('{}'),
    priority: 0,
    maxAttempts: 3,
    backoffInitialMs: 1000,
    backoffMaxMs: 60_000,
    timeoutMs: 30_000,
    runAt: now,
    idempotencyKey: '',
    headers: {},
    createdAt: now,
    ...fields,
  };
}

/** The `n`th job of a tenant as a fetch hands it to a dispatcher, for tests of dispatch alone. */
export function fetchedJob(tenant: string, n: number): FetchedJob {
  return {
    id: `${tenant}-${n}`,
    tenant,
    queue: 'q',
    entry: `${n}-0`,
    priority: 0,
    attempts: 0,
    maxAttempts: 1,
    timeoutMs: 0,
    payload: Buffer.from('{}'),
    headers: {},
    createdAt: 0,
    runAt: 0,
  };
}
