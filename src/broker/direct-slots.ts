import type { FairScheduler, TenantLimits } from '../scheduler/index.js';
import { newLeaseToken } from './ids.js';
import type { Session } from './session.js';

/**
 * Most jobs a direct dispatch leases in its fetch. It serves a job that arrives
 * while workers wait (the common case at low and moderate rates) one Redis
 * round trip sooner; more than a few would lease jobs of unknown size past
 * the stream's byte budget, and a burst goes through the buffer anyway.
 */
const DIRECT_MAX = 4;

/** Dispatches taken for a tenant whose fetch leases at once: its session and one token each. */
export interface DirectSlots {
  readonly session: Session;
  readonly tokens: string[];
}

/** A session of the queue that takes the tenant and has a free slot now. */
export function sessionWithRoomFor(
  sessions: Iterable<Session>,
  tenant: string,
): Session | undefined {
  for (const session of sessions) {
    if (session.free > 0 && session.accepts(tenant)) return session;
  }
  return undefined;
}

/** How many jobs of the tenant the queue's sessions here could start now. */
export function freeSlotsFor(sessions: Iterable<Session>, tenant: string): number {
  let free = 0;
  for (const session of sessions) if (session.accepts(tenant)) free += session.free;
  return free;
}

/**
 * Direct dispatch: when no other tenant is ready here and a session has free
 * capacity, the DRR would hand this tenant's next jobs to that session the
 * moment they arrive; so take those dispatches from the scheduler now and
 * let the fetch lease the jobs it reads, saving the separate lease round
 * trip. Shares stay exact: the scheduler charges the tenant as for any
 * dispatch, and slots the fetch cannot fill are given back.
 */
export function takeDirectSlots(
  scheduler: FairScheduler,
  sessions: Iterable<Session>,
  tenant: string,
  want: number,
): DirectSlots | undefined {
  if (scheduler.ready > 0) return undefined;
  const session = sessionWithRoomFor(sessions, tenant);
  if (!session) return undefined;
  const limit = Math.min(DIRECT_MAX, want, session.free);
  scheduler.setAvailable(tenant, limit);
  let count = 0;
  const onlyThis = (candidate: string): boolean => candidate === tenant;
  while (count < limit && scheduler.next(onlyThis) === tenant) count++;
  scheduler.setAvailable(tenant, 0);
  if (count === 0) return undefined;
  session.reserveSlots(count);
  return { session, tokens: Array.from({ length: count }, () => newLeaseToken()) };
}

/** Gives back the slots of a direct dispatch its fetch did not fill. */
export function releaseDirectSlots(
  limits: TenantLimits,
  queue: string,
  tenant: string,
  slots: DirectSlots,
  used: number,
): void {
  slots.session.unreserveSlots(slots.tokens.length);
  for (let i = used; i < slots.tokens.length; i++) limits.onRelease(tenant, queue);
}
