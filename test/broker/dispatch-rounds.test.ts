/**
 * DispatchRounds with many sessions: how many sessions a round looks at is
 * counted (each look reads the session's stream budget), never timed. A
 * broker with 1,000 worker streams ran a round over all of them per lease
 * that ended, whether or not any job waited.
 */
import { describe, expect, it } from 'vitest';

import { DispatchRounds } from '../../src/broker/dispatch-rounds.js';
import { PrefetchBuffers } from '../../src/broker/prefetch-buffers.js';
import { Session } from '../../src/broker/session.js';
import { fetchedJob as job } from '../helpers/new-job.js';
import { FairScheduler, TenantLimits } from '../../src/scheduler/index.js';
import { FakeClock } from '../scheduler/helpers.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(sessionCount: number, capacity: number) {
  const clock = new FakeClock();
  const limits = new TenantLimits(clock.read);
  const scheduler = new FairScheduler({ queue: 'q', limits, clock: clock.read, quantum: 4 });
  const prefetch = new PrefetchBuffers('q', limits, {
    jobs: 100_000,
    bytes: 2 ** 30,
    maxJobBytes: 1024,
  });
  const sessions = new Set<Session>();
  const looked = { count: 0 };
  const granted = new Map<Session, string[]>();
  for (let i = 0; i < sessionCount; i++) {
    sessions.add(
      new Session(`s${i}`, `w${i}`, ['q'], undefined, undefined, capacity, 0, {
        send: () => undefined,
        close: () => undefined,
        writableBytes: () => {
          looked.count++;
          return 2 ** 20;
        },
        notifyWhenWritable: () => undefined,
      }),
    );
  }
  const rounds = new DispatchRounds({
    queue: 'q',
    sessions,
    scheduler,
    prefetch,
    limits,
    limitsClock: clock.read,
    grant: (session, jobs) => {
      granted.set(session, [...(granted.get(session) ?? []), ...jobs.map((j) => j.id)]);
    },
    refill: () => undefined,
    admitWaiting: () => undefined,
    afterRound: () => undefined,
  });
  const buffer = (tenant: string, count: number): void => {
    const jobs = Array.from({ length: count }, (_, n) => job(tenant, n));
    prefetch.add(tenant, { jobs, leased: 0, idle: false, nextDueAt: undefined }, { count });
    prefetch.buffers.set(tenant, jobs);
    scheduler.setAvailable(tenant, count);
  };
  /** Ends the leases granted to the session: its slots are free again. */
  const finish = (session: Session): void => {
    const ids = granted.get(session) ?? [];
    session.unreserve(ids.map((id) => job(id.split('-')[0]!, 0)));
    for (const id of ids) limits.onRelease(id.split('-')[0]!, 'q');
    granted.delete(session);
  };
  /** A round over every session, run to its end. */
  const roundOverAll = async (): Promise<void> => {
    rounds.pump();
    await nextTurn();
  };
  /** A round for one session (undefined: a lease no session held ended), run to its end. */
  const roundFor = async (session: Session | undefined): Promise<void> => {
    rounds.pumpFor(session);
    await nextTurn();
  };
  return {
    clock,
    limits,
    scheduler,
    sessions: [...sessions],
    rounds,
    looked,
    granted,
    buffer,
    finish,
    roundOverAll,
    roundFor,
  };
}

describe('dispatch rounds with many sessions', () => {
  it('looks at no session when no job is buffered', async () => {
    const t = setup(1000, 1);
    await t.roundOverAll();
    expect(t.looked.count).toBe(0);
  });

  it('stops once the buffered jobs are given out, not after every session', async () => {
    const t = setup(1000, 1);
    t.buffer('a', 3);
    await t.roundOverAll();
    expect([...t.granted.values()].flat()).toHaveLength(3);
    // Three sessions served; the next look finds the ring empty.
    expect(t.looked.count).toBeLessThan(20);
  });

  it('serves only the session whose slot freed while every other one is full', async () => {
    const t = setup(1000, 1);
    t.buffer('a', 2000);
    await t.roundOverAll();
    expect(t.granted.size).toBe(1000);
    const freed = t.sessions[500]!;
    t.finish(freed);
    t.looked.count = 0;
    await t.roundFor(freed);
    expect(t.granted.get(freed)).toHaveLength(1);
    expect(t.looked.count).toBeLessThan(20);
  });

  it('serves every session again when a tenant held back by its cap may run again', async () => {
    const t = setup(10, 1);
    t.limits.setTenant('capped', { maxInFlight: 1 });
    t.buffer('capped', 5);
    await t.roundOverAll();
    const [first] = [...t.granted.keys()];
    expect(t.granted.size).toBe(1);
    // The lease ends without its session (an orphan expired): the tenant's slot
    // is free, and the other idle sessions may take its next job.
    t.limits.onRelease('capped', 'q');
    t.granted.clear();
    await t.roundFor(undefined);
    expect(t.granted.size).toBe(1);
    expect([...t.granted.keys()][0]).not.toBe(first);
  });

  it('serves a rate-limited tenant whose token has come, though no tenant was ready before', async () => {
    const t = setup(10, 5);
    t.limits.setTenant('slow', { rate: 1, burst: 1 });
    t.buffer('slow', 3);
    await t.roundOverAll();
    expect([...t.granted.values()].flat()).toHaveLength(1);
    t.clock.advance(1000);
    await t.roundOverAll();
    expect([...t.granted.values()].flat()).toHaveLength(2);
  });

  it('starts each round at the next session, so one job a round goes to each in turn', async () => {
    const t = setup(3, 1);
    const served: Session[] = [];
    for (let round = 0; round < 3; round++) {
      t.buffer(`t${round}`, 1);
      await t.roundOverAll();
      const [session] = [...t.granted.keys()];
      served.push(session!);
      t.finish(session!);
    }
    expect(new Set(served).size).toBe(3);
  });
});
