/**
 * What the audit line of each call that changes state says (see audit.ts):
 * what it did, its target read off the request, and its counts read off the
 * response. Apart from the handlers, so the trail reads as one table.
 */
import type { CancelJobRequest__Output } from '../generated/rota/v1/CancelJobRequest.js';
import type { CancelJobResponse } from '../generated/rota/v1/CancelJobResponse.js';
import type { DeleteDeadLettersRequest__Output } from '../generated/rota/v1/DeleteDeadLettersRequest.js';
import type { DeleteDeadLettersResponse } from '../generated/rota/v1/DeleteDeadLettersResponse.js';
import type { PurgeQueueRequest__Output } from '../generated/rota/v1/PurgeQueueRequest.js';
import type { PurgeQueueResponse } from '../generated/rota/v1/PurgeQueueResponse.js';
import type { ReplayDeadLettersRequest__Output } from '../generated/rota/v1/ReplayDeadLettersRequest.js';
import type { ReplayDeadLettersResponse } from '../generated/rota/v1/ReplayDeadLettersResponse.js';
import type { SetTenantRequest__Output } from '../generated/rota/v1/SetTenantRequest.js';
import type { Tenant } from '../generated/rota/v1/Tenant.js';
import { toTenantUpdate, toWireTenant } from './codec.js';

export interface Change<Req, Res> {
  /** What the call did, said of a success (e.g. 'purged the waiting jobs of a queue'). */
  readonly done: string;
  /** What it changes: never payloads, and job ids only one at a time. */
  target(request: Req): Record<string, unknown>;
  /** The counts of a success. */
  outcome(response: Res): Record<string, unknown>;
}

export const TENANT_SET: Change<SetTenantRequest__Output, Tenant> = {
  done: 'tenant settings changed',
  target: (request) => {
    // The fields the request sets, as on the wire (unset ones are left out).
    const { tenant, queues, ...fields } = toWireTenant(toTenantUpdate(request.tenant));
    return { tenant, changes: queues?.length ? { ...fields, queues } : fields };
  },
  outcome: ({ tenant: _tenant, ...settings }) => ({ settings }),
};

export const JOB_CANCELLED: Change<CancelJobRequest__Output, CancelJobResponse> = {
  done: 'cancelled a job',
  target: (request) => ({ tenant: request.tenant, jobId: request.job_id }),
  outcome: (response) => ({ cancelled: response.cancelled, state: response.state }),
};

export const QUEUE_PURGED: Change<PurgeQueueRequest__Output, PurgeQueueResponse> = {
  done: 'purged the waiting jobs of a queue',
  target: (request) => ({ tenant: request.tenant, queue: request.queue }),
  outcome: (response) => ({ purged: response.purged }),
};

/**
 * A call over dead letters: its tenant×queue and the number of ids named, or
 * all; how many it took (the response's field `taken`) and did not find.
 */
function deadLetters<K extends string>(
  done: string,
  taken: K,
): Change<
  ReplayDeadLettersRequest__Output,
  { readonly [field in K]?: number } & { readonly not_found?: string[] }
> {
  return {
    done,
    target: (request) => ({
      tenant: request.tenant,
      queue: request.queue,
      ...(request.all ? { all: true } : { jobIds: request.job_ids.length }),
    }),
    outcome: (response) => ({
      [taken]: response[taken],
      notFound: response.not_found?.length ?? 0,
    }),
  };
}

export const DEAD_LETTERS_REPLAYED: Change<
  ReplayDeadLettersRequest__Output,
  ReplayDeadLettersResponse
> = deadLetters('replayed dead letters', 'replayed');

export const DEAD_LETTERS_DELETED: Change<
  DeleteDeadLettersRequest__Output,
  DeleteDeadLettersResponse
> = deadLetters('deleted dead letters', 'deleted');
