/**
 * Parking on its own, on fake timers: when the buffer of a tenant no session
 * here takes any more is let go, and that its jobs are given back (to their
 * streams, for any broker's workers) when it is.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { Parking } from '../../src/broker/parking.js';
import { PrefetchBuffers } from '../../src/broker/prefetch-buffers.js';
import { Session } from '../../src/broker/session.js';
import { FairScheduler, TenantLimits } from '../../src/scheduler/index.js';
import { fetchedJob as job } from '../helpers/new-job.js';

/** The grace a tenant's buffer gets after its last session here left (UNSERVED_GRACE_MS). */
const GRACE_MS = 2_000;

function setup() {
  const clock = (): number => Date.now();
  const limits = new TenantLimits(clock);
  const scheduler = new FairScheduler({ queue: 'q', limits, clock });
  const prefetch = new PrefetchBuffers('q', limits, {
    jobs: 100_000,
    bytes: 2 ** 30,
    maxJobBytes: 1024,
  });
  const sessions = new Set<Session>();
  const givenBack: string[] = [];
  const parking = new Parking({
    queue: 'q',
    limits,
    sessions,
    scheduler,
    prefetch,
    clock,
    giveBack: (jobs) => givenBack.push(...jobs.map((j) => j.id)),
  });
  let made = 0;
  /** A session of `tenants` (undefined: every tenant) joins. */
  const join = (tenants?: string[]): Session => {
    const session = new Session(
      `s${made++}`,
      'w',
      ['q'],
      tenants && new Set(tenants),
      undefined,
      1,
      0,
      {
        send: () => undefined,
        close: () => undefined,
        writableBytes: () => 2 ** 20,
        notifyWhenWritable: () => undefined,
      },
    );
    sessions.add(session);
    parking.sessionJoined(session);
    return session;
  };
  const leave = (session: Session): void => {
    sessions.delete(session);
    parking.sessionLeft(session);
  };
  const buffer = (tenant: string, count: number): void => {
    const jobs = Array.from({ length: count }, (_, n) => job(tenant, n));
    prefetch.buffers.set(
      tenant,
      prefetch.add(tenant, { jobs, leased: 0, idle: false, nextDueAt: undefined }, { count }),
    );
    scheduler.setAvailable(tenant, count);
    parking.buffered(tenant);
  };
  return { parking, prefetch, givenBack, join, leave, buffer };
}

describe('the buffer of a tenant no session here takes any more', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is kept for a worker that reconnects within the grace', () => {
    const t = setup();
    const worker = t.join(['acme']);
    t.buffer('acme', 3);
    t.leave(worker);
    vi.advanceTimersByTime(GRACE_MS / 2);
    t.join(['acme']); // the worker is back
    vi.advanceTimersByTime(GRACE_MS * 5);
    expect(t.givenBack).toEqual([]);
    expect(t.prefetch.buffers.get('acme')).toHaveLength(3);
  });

  it('is given back once the grace is over, for the workers of other brokers', () => {
    const t = setup();
    t.join(['globex']);
    const worker = t.join(['acme']);
    t.buffer('acme', 3);
    t.buffer('globex', 2);
    t.leave(worker);
    vi.advanceTimersByTime(GRACE_MS - 1);
    expect(t.givenBack).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(t.givenBack).toEqual(['acme-0', 'acme-1', 'acme-2']);
    expect([...t.parking.parked]).toEqual(['acme']);
    expect(t.prefetch.use().jobs).toBe(2); // globex's, still served here
  });

  it('is given back after the grace while sessions of other tenants keep coming and going', () => {
    // Each session that left restarted one timer: a tenant whose worker had
    // moved to another broker kept its buffer here while the churn went on.
    const t = setup();
    const worker = t.join(['acme']);
    t.buffer('acme', 3);
    t.leave(worker);
    for (let i = 0; i < 10; i++) {
      const other = t.join(['globex']);
      vi.advanceTimersByTime(GRACE_MS / 4);
      t.leave(other);
      vi.advanceTimersByTime(GRACE_MS / 4);
    }
    expect(t.givenBack).toEqual(['acme-0', 'acme-1', 'acme-2']);
    expect(t.prefetch.buffers.has('acme')).toBe(false);
  });

  it('gets a whole grace of its own when its session leaves after another', () => {
    const t = setup();
    const first = t.join(['acme']);
    const second = t.join(['globex']);
    t.buffer('acme', 1);
    t.buffer('globex', 1);
    t.leave(first);
    vi.advanceTimersByTime(GRACE_MS - 100);
    t.leave(second);
    vi.advanceTimersByTime(100);
    expect(t.givenBack).toEqual(['acme-0']);
    vi.advanceTimersByTime(GRACE_MS - 101);
    expect(t.givenBack).toEqual(['acme-0']);
    vi.advanceTimersByTime(1);
    expect(t.givenBack).toEqual(['acme-0', 'globex-0']);
  });

  it('is given back a grace after a read that answers after its session left', () => {
    const t = setup();
    const worker = t.join(['acme']);
    t.leave(worker);
    vi.advanceTimersByTime(GRACE_MS / 2);
    t.buffer('acme', 2); // a fetch sent before the worker left
    vi.advanceTimersByTime(GRACE_MS - 1);
    expect(t.givenBack).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(t.givenBack).toEqual(['acme-0', 'acme-1']);
  });

  it('is given back at once when room is wanted, grace or not', () => {
    const t = setup();
    const worker = t.join(['acme']);
    t.buffer('acme', 2);
    t.leave(worker);
    t.parking.dropUnservable();
    expect(t.givenBack).toEqual(['acme-0', 'acme-1']);
    vi.advanceTimersByTime(GRACE_MS * 2);
    expect(t.givenBack).toEqual(['acme-0', 'acme-1']); // once
  });
});
