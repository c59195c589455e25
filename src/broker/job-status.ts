import type { JobRecord, JobState } from '../store/types.js';
import type { BrokerContext } from './broker-context.js';
import { retireIfEmptied } from './emptied.js';
import { BrokerError, guarded, invalidArgument, quoted } from './errors.js';
import { checkName } from './validation.js';

/** A job by its id: its record, and cancelling it (GetJob, CancelJob). */
export class JobStatus {
  constructor(private readonly context: BrokerContext) {}

  async getJob(tenant: string, jobId: string): Promise<JobRecord> {
    checkName('tenant', tenant);
    checkJobId(jobId);
    const job = await guarded(this.context.store.getJob(tenant, jobId));
    if (!job) throw notFound(tenant, jobId);
    return job;
  }

  async cancel(tenant: string, jobId: string): Promise<{ cancelled: boolean; state: JobState }> {
    const { store, clock, observer, leases, doorbell } = this.context;
    checkName('tenant', tenant);
    checkJobId(jobId);
    const outcome = await guarded(store.cancel(tenant, jobId, clock()));
    if (outcome.kind === 'not_found') throw notFound(tenant, jobId);
    if (outcome.kind === 'ended') return { cancelled: false, state: outcome.state };
    observer.cancelled(tenant, outcome.queue, 1, 'cancel');
    if (outcome.previous === 'leased') {
      leases.revoke(jobId, 'cancelled');
      doorbell.announceCancel(jobId);
    } else {
      await retireIfEmptied(this.context, tenant, outcome.queue);
    }
    return { cancelled: true, state: 'cancelled' };
  }
}

export function checkJobId(jobId: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) {
    throw invalidArgument(`job_id ${quoted(jobId)} is malformed; use the id Enqueue returned`);
  }
}

function notFound(tenant: string, jobId: string): BrokerError {
  return new BrokerError(
    'not_found',
    `job ${jobId} of tenant ${tenant} does not exist (wrong id or tenant, or it ended and its retention is over)`,
  );
}
