import { randomUUID } from 'node:crypto';

import type { NewJob } from '../../src/store/types.js';

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
