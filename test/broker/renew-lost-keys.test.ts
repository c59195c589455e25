/**
 * Renewal of held entries after Redis lost its keys: the entries whose stream
 * is gone are said once and not renewed again (they failed on every tick,
 * TTL/3 apart, for as long as they were held), and the workers are answered
 * as before.
 */
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { LAYOUT_VERSION } from '../../src/store/keys.js';
import { useBroker } from '../helpers/harness.js';

const logged: Array<Record<string, unknown>> = [];
// The harness's lease TTL is 1.5 s: a renewal every 500 ms.
const h = useBroker({ onLog: (line) => logged.push(line) });

const LOST = 'Redis no longer has the streams of entries this broker holds';
const said = (from: number, msg: string): Array<Record<string, unknown>> =>
  logged.slice(from).filter((line) => String(line.msg).startsWith(msg));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('renewal after Redis lost its keys', () => {
  it('says once that a running job was lost, and answers its ack as of an unknown job', async () => {
    const worker = await h.worker({ queues: ['flushed'], capacity: 1 });
    await h.enqueue({ tenant: 'acme', queue: 'flushed' });
    const [lease] = await worker.take(1);
    const from = logged.length;
    const admin = new Redis(h.redis.url);
    onTestFinished(() => void admin.quit());
    // Flushed with the connections kept: nothing tells the broker but renewal.
    await admin.flushall();
    await sleep(2500); // five renewals

    expect(said(from, 'renewing held entries failed')).toEqual([]);
    expect(said(from, LOST)).toEqual([
      expect.objectContaining({ level: 40, entries: 1, queues: ['flushed/acme'] }),
    ]);
    worker.complete(lease!);
    await expect
      .poll(() => worker.ackOutcomes())
      .toEqual([expect.objectContaining({ job_id: lease!.job_id, status: 'ACK_UNKNOWN_JOB' })]);
    // Its slot is free again.
    const next = await h.enqueue({ tenant: 'acme', queue: 'flushed' });
    const [again] = await worker.take(1);
    expect(again!.job_id).toBe(next.job_id);
    worker.complete(again!);
    await h.waitState('acme', next.job_id, 'COMPLETED');
  });

  it('says once that the buffered jobs of a paused tenant were lost in a restart', async () => {
    const worker = await h.worker({ queues: ['restarted'], capacity: 1 });
    await h.enqueueBatch(Array.from({ length: 8 }, () => ({ tenant: 'idle', queue: 'restarted' })));
    const [lease] = await worker.take(1);
    // The broker reads ahead of its worker; paused, the tenant keeps what was read.
    await expect
      .poll(async () => Number((await h.stats({ queue: 'restarted' })).entries[0]?.leased))
      .toBeGreaterThan(1);
    await h.setTenant({ tenant: 'idle', paused: true });
    const from = logged.length;
    await h.redis.restartEmpty();
    // The lease of the lost job is revoked once the broker listens again.
    await expect.poll(() => worker.cancels(), { timeout: 10_000 }).toEqual([lease!.job_id]);
    await sleep(2500); // five renewals

    expect(said(from, 'renewing held entries failed')).toEqual([]);
    const lost = said(from, LOST);
    expect(lost).toHaveLength(1);
    expect(Number(lost[0]!.entries)).toBeGreaterThan(1);
    await h.setTenant({ tenant: 'idle', paused: false });
  });

  it('says nothing of a held entry whose job ended elsewhere and whose tenant was retired', async () => {
    // A broker that hung past its lease TTL: another broker reclaimed the
    // lease and ran the job to its end, and a fetch found the tenant idle,
    // which deleted its ready stream (retire.lua). The hung broker's renewal
    // then finds no stream, as after a flush, but Redis kept its keys (the
    // tests before emptied it: a broker started since marks it kept again).
    await h.restartBroker();
    const worker = await h.worker({ queues: ['retired'], capacity: 1 });
    const { job_id: jobId } = await h.enqueue({ tenant: 'hung', queue: 'retired' });
    const [lease] = await worker.take(1);
    const { store } = h.broker.broker;
    const admin = new Redis(h.redis.url);
    onTestFinished(() => void admin.quit());
    const [entry] = (await admin.xrange(store.keys.ready('hung', 'retired', 0), '-', '+'))[0]!;
    await admin.xack(store.keys.ready('hung', 'retired', 0), 'rota', entry);
    await admin.xdel(store.keys.ready('hung', 'retired', 0), entry);
    await admin.del(store.keys.job('hung', jobId));
    expect(await store.retire('retired', 'hung')).toBe(true);
    expect(await admin.exists(store.keys.ready('hung', 'retired', 0))).toBe(0);
    const from = logged.length;
    await sleep(2500); // five renewals

    expect(said(from, 'renewing held entries failed')).toEqual([]);
    expect(said(from, LOST)).toEqual([]);
    worker.complete(lease!);
    await expect
      .poll(() => worker.ackOutcomes())
      .toEqual([expect.objectContaining({ job_id: jobId, status: 'ACK_UNKNOWN_JOB' })]);
  });

  // Unmarked, the data the broker goes on writing could be taken by a broker
  // of another layout starting later (see checkLayout).
  it('marks the data layout again after a restart that lost every key', async () => {
    const admin = new Redis(h.redis.url);
    onTestFinished(() => void admin.quit());
    const key = h.broker.broker.store.keys.layout();
    expect(await admin.get(key)).toBe(String(LAYOUT_VERSION));
    await h.redis.restartEmpty();
    await expect.poll(() => admin.get(key), { timeout: 10_000 }).toBe(String(LAYOUT_VERSION));
  });
});
