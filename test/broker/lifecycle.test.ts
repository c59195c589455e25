import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { useBroker } from '../helpers/harness.js';
import { call, eventually, rawClients } from '../helpers/broker.js';
import type { Stats__Output } from '../../src/generated/rota/v1/Stats.js';
import { autoComplete, type RawWorker } from '../helpers/raw-worker.js';
import { holdWithBufferFull } from '../helpers/full-buffer.js';
import { PREFETCH_MAX } from '../../src/broker/prefetch-buffers.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';

const h = useBroker();

describe('job lifecycle', () => {
  it('enqueues, leases, completes', async () => {
    const { job_id, duplicate } = await h.enqueue({
      tenant: 'acme',
      queue: 'email',
      payload: Buffer.from('hi'),
    });
    expect(duplicate).toBe(false);
    const w = await h.worker({ queues: ['email'] });
    const [lease] = await w.take(1);
    expect(lease!.job_id).toBe(job_id);
    expect(lease!.payload.toString()).toBe('hi');
    expect(lease!.attempt).toBe(1);
    expect((await h.getJob('acme', job_id)).state).toBe('LEASED');
    w.complete(lease!, Buffer.from('done'));
    const job = await h.waitState('acme', job_id, 'COMPLETED');
    expect(job.result.toString()).toBe('done');
    expect(job.attempts).toBe(1);
    expect(Number(job.finished_at_unix_ms)).toBeGreaterThanOrEqual(Number(job.created_at_unix_ms));
  });

  it('answers a batch item by item', async () => {
    const { results } = await h.enqueueBatch([
      { tenant: 'acme', queue: 'batch', payload: Buffer.from('1') },
      { tenant: 'bad tenant!', queue: 'batch' },
      { tenant: 'acme', queue: 'batch', priority: 42 },
      { tenant: 'acme', queue: 'batch', payload: Buffer.from('2') },
    ]);
    expect(results.map((r) => r.code)).toEqual([
      0,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      0,
    ]);
    expect(results[1]!.error).toMatch(/tenant is "bad tenant!"; it must match/);
    expect(results[2]!.error).toMatch(/priority is 42; it must be a whole number from 0 to 9/);
    const ids = [results[0]!.job_id, results[3]!.job_id];
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect((await h.getJob('acme', id)).state).toBe('WAITING');
  });

  it('answers each item of a batch that spreads over many tenants and script calls', async () => {
    // 150 tenants × 3 jobs, interleaved: the store packs many tenants into each
    // script call (200 jobs at most), so groups split across calls. The third
    // job of each tenant repeats the idempotency key of its first.
    const jobs = Array.from({ length: 450 }, (_, i) => ({
      tenant: `pack-${i % 150}`,
      queue: 'packed',
      payload: Buffer.from(`p${i}`),
      idempotency_key: `key-${Math.floor(i / 150) % 2}`,
    }));
    const { results } = await h.enqueueBatch(jobs);
    expect(results.map((r) => r.code)).toEqual(jobs.map(() => 0));
    expect(results.map((r) => r.duplicate)).toEqual(jobs.map((_, i) => i >= 300));
    for (let i = 300; i < 450; i++) expect(results[i]!.job_id).toBe(results[i - 300]!.job_id);
    expect(new Set(results.slice(0, 300).map((r) => r.job_id)).size).toBe(300);
    for (let i = 0; i < 300; i += 7) {
      const job = await h.getJob(jobs[i]!.tenant, results[i]!.job_id);
      expect(job.payload.toString()).toBe(`p${i}`);
      expect(job.state).toBe('WAITING');
    }
  });

  it('applies max_queued to a tenant whose batch spans two script calls', async () => {
    await h.setTenant({ tenant: 'pack-capped', max_queued: 210 });
    const others = Array.from({ length: 30 }, (_, i) => ({ tenant: `pack-o${i}`, queue: 'cap' }));
    const capped = Array.from({ length: 250 }, () => ({ tenant: 'pack-capped', queue: 'cap' }));
    const { results } = await h.enqueueBatch([...others, ...capped]);
    expect(results.map((r) => r.code)).toEqual([
      ...others.map(() => 0),
      ...Array<number>(210).fill(0),
      ...Array<number>(40).fill(status.RESOURCE_EXHAUSTED),
    ]);
  });

  it('leases every job of a batch that wakes 300 tenants at once, delayed ones when due', async () => {
    // The refills of one turn go out together, many tenants per fetch call
    // and several calls per round trip: each tenant's jobs must come back to it.
    const jobs = Array.from({ length: 900 }, (_, i) => ({
      tenant: `wake-${i % 300}`,
      queue: 'wake',
      payload: Buffer.from(`w${i}`),
      priority: i % 3,
      delay_ms: i % 100 === 0 ? 300 : 0,
    }));
    const { results } = await h.enqueueBatch(jobs);
    const w = await h.worker({ queues: ['wake'], capacity: 100 });
    const completing = autoComplete(w);
    try {
      await eventually(() => (w.leases.length >= jobs.length ? true : undefined), {
        timeoutMs: 15_000,
      });
    } finally {
      completing.stop();
    }
    const byId = new Map(results.map((r, i) => [r.job_id, jobs[i]!]));
    expect(new Set(w.leases.map((l) => l.job_id)).size).toBe(jobs.length);
    for (const lease of w.leases) {
      const job = byId.get(lease.job_id)!;
      expect([lease.tenant, lease.payload.toString()]).toEqual([
        job.tenant,
        job.payload.toString(),
      ]);
    }
  });

  it('acks and deletes the stream entries of one ack batch that spans queues and priorities', async () => {
    // complete.lua gathers each stream's entries of a call into one XACK and one
    // XDEL: an entry left behind would show as waiting, an unacked one as leased.
    const jobs = ['qa', 'qb'].flatMap((queue) =>
      [0, 5].flatMap((priority) => [1, 2].map(() => ({ tenant: 'spread', queue, priority }))),
    );
    const { results } = await h.enqueueBatch(jobs);
    const w = await h.worker({ queues: ['qa', 'qb'], capacity: 8 });
    const leases = await w.take(8);
    w.send({
      acks: {
        completed: leases.map((lease) => ({
          job_id: lease.job_id,
          lease_token: lease.lease_token,
          result: Buffer.from('ok'),
        })),
      },
    });
    for (const { job_id } of results) await h.waitState('spread', job_id, 'COMPLETED');
    expect(w.ackOutcomes()).toEqual([]);
    const clients = rawClients(h.broker.address);
    try {
      for (const queue of ['qa', 'qb']) {
        const { entries } = await call<{ queue: string; tenant: string }, Stats__Output>(
          clients.admin.GetStats.bind(clients.admin),
          { queue, tenant: 'spread' },
        );
        expect(entries).toMatchObject([{ queue, tenant: 'spread', waiting: '0', leased: '0' }]);
      }
    } finally {
      clients.close();
    }
  });

  it('returns the first job for a repeated idempotency key', async () => {
    const first = await h.enqueue({ tenant: 'acme', queue: 'orders', idempotency_key: 'order-42' });
    const again = await h.enqueue({ tenant: 'acme', queue: 'orders', idempotency_key: 'order-42' });
    const other = await h.enqueue({
      tenant: 'globex',
      queue: 'orders',
      idempotency_key: 'order-42',
    });
    expect(again).toEqual({ job_id: first.job_id, duplicate: true });
    expect(other.duplicate).toBe(false);
    expect(other.job_id).not.toBe(first.job_id);
  });

  it('holds a delayed job until its time', async () => {
    const w = await h.worker({ queues: ['later'] });
    const enqueuedAt = Date.now();
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'later', delay_ms: 400 });
    expect((await h.getJob('acme', job_id)).state).toBe('DELAYED');
    const [lease] = await w.take(1);
    expect(lease!.job_id).toBe(job_id);
    expect(Date.now() - enqueuedAt).toBeGreaterThanOrEqual(400);
    w.complete(lease!);
  });

  it('holds a job delayed past the longest Node timer (24.8 days) without a runaway timer', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      await h.worker({ queues: ['far'] });
      const month = 30 * 24 * 3600 * 1000;
      const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'far', delay_ms: month });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Node runs an over-long timer after 1 ms and warns: the due timer would spin.
      expect(warnings).not.toContain('TimeoutOverflowWarning');
      expect((await h.getJob('acme', job_id)).state).toBe('DELAYED');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('retries with backoff, then buries the job in the dead letter queue', async () => {
    const w = await h.worker({ queues: ['flaky'] });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'flaky',
      max_attempts: 3,
      backoff: { initial_ms: 50, max_ms: 100 },
    });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const [lease] = await w.take(1);
      expect(lease!.attempt).toBe(attempt);
      w.fail(lease!, `boom ${attempt}`);
      if (attempt < 3) {
        const job = await h.waitState('acme', job_id, 'FAILED_RETRYING');
        expect(job.last_error).toBe(`boom ${attempt}`);
        expect(Number(job.run_at_unix_ms) - Date.now()).toBeLessThanOrEqual(
          100 * 2 ** (attempt - 1),
        );
      }
    }
    const dead = await h.waitState('acme', job_id, 'DEAD');
    expect(dead.attempts).toBe(3);
    expect(dead.last_error).toBe('boom 3');
    const page = await h.listDead({ tenant: 'acme', queue: 'flaky' });
    expect(page.jobs.map((j) => j.id)).toEqual([job_id]);
    expect(Number(page.total)).toBe(1);
  });

  it('sends a non-retryable failure straight to the dead letter queue', async () => {
    const w = await h.worker({ queues: ['poison'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'poison', max_attempts: 5 });
    const [lease] = await w.take(1);
    w.fail(lease!, 'bad input', false);
    const dead = await h.waitState('acme', job_id, 'DEAD');
    expect(dead.attempts).toBe(1);
  });

  it('honours retry_after_ms', async () => {
    const w = await h.worker({ queues: ['later-retry'] });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'later-retry',
      backoff: { initial_ms: 1 },
    });
    const [lease] = await w.take(1);
    const failedAt = Date.now();
    w.fail(lease!, 'rate limited upstream', true, 500);
    const job = await h.waitState('acme', job_id, 'FAILED_RETRYING');
    expect(Number(job.run_at_unix_ms)).toBeGreaterThanOrEqual(failedAt + 500 - 50);
    const [again] = await w.take(1);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(450);
    expect(again!.attempt).toBe(2);
    w.complete(again!);
  });

  it('refuses a retry_after_ms past 365 days as ACK_INVALID and keeps the lease', async () => {
    const w = await h.worker({ queues: ['far-retry'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'far-retry' });
    const [lease] = await w.take(1);
    w.fail(lease!, 'later, much later', true, 366 * 86_400_000);
    await expect
      .poll(() => w.ackOutcomes())
      .toEqual([
        {
          job_id,
          status: 'ACK_INVALID',
          message: 'retry_after_ms is 31622400000; it must be at most 31536000000 (365 days)',
        },
      ]);
    expect((await h.getJob('acme', job_id)).state).toBe('LEASED');
    w.fail(lease!, 'later', true, 1000);
    const job = await h.waitState('acme', job_id, 'FAILED_RETRYING');
    expect(job.last_error).toBe('later');
  });

  it('stores a result with its media type; refuses one over 128 bytes as ACK_INVALID', async () => {
    const w = await h.worker({ queues: ['typed-result'] });
    const first = await h.enqueue({ tenant: 'acme', queue: 'typed-result' });
    const second = await h.enqueue({ tenant: 'acme', queue: 'typed-result' });
    const [typed, untyped] = await w.take(2);
    const result = Buffer.from('<ok/>');
    const complete = (lease: typeof typed, contentType: string): void =>
      w.send({
        complete: {
          job_id: lease!.job_id,
          lease_token: lease!.lease_token,
          result,
          result_content_type: contentType,
        },
      });
    complete(typed, 'x'.repeat(129));
    await expect
      .poll(() => w.ackOutcomes())
      .toEqual([
        {
          job_id: typed!.job_id,
          status: 'ACK_INVALID',
          message: 'result_content_type is 129 bytes; it must be at most 128',
        },
      ]);
    expect((await h.getJob('acme', typed!.job_id)).state).toBe('LEASED');
    complete(typed, 'application/xml');
    complete(untyped, '');
    const job = await h.waitState('acme', first.job_id, 'COMPLETED');
    expect(job.result).toEqual(result);
    expect(job.result_content_type).toBe('application/xml');
    const other = await h.waitState('acme', second.job_id, 'COMPLETED');
    expect(other.result_content_type).toBe('');
  });

  it('stores progress with its media type; refuses data over 64 KiB or a type over 128 bytes as ACK_INVALID', async () => {
    const w = await h.worker({ queues: ['typed-progress'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'typed-progress' });
    const [lease] = await w.take(1);
    const progress = (contentType: string, data = Buffer.from('<half/>')): void =>
      w.send({
        progress: { job_id, lease_token: lease!.lease_token, data, content_type: contentType },
      });
    progress('y'.repeat(129));
    await expect
      .poll(() => w.ackOutcomes())
      .toEqual([
        {
          job_id,
          status: 'ACK_INVALID',
          message: 'content_type is 129 bytes; it must be at most 128',
        },
      ]);
    expect((await h.getJob('acme', job_id)).progress).toEqual(Buffer.alloc(0));
    progress('application/xml');
    await expect
      .poll(async () => (await h.getJob('acme', job_id)).progress_content_type)
      .toBe('application/xml');
    expect((await h.getJob('acme', job_id)).progress).toEqual(Buffer.from('<half/>'));
    // Over the limit: refused, and the job keeps the progress it had.
    progress('application/octet-stream', Buffer.alloc(64 * 1024 + 1));
    await expect
      .poll(() => w.ackOutcomes()[1])
      .toEqual({
        job_id,
        status: 'ACK_INVALID',
        message: 'progress is 65537 bytes; the limit is 65536',
      });
    const kept = await h.getJob('acme', job_id);
    expect([kept.state, kept.progress, kept.progress_content_type]).toEqual([
      'LEASED',
      Buffer.from('<half/>'),
      'application/xml',
    ]);
    w.complete(lease!);
  });

  it('shows the progress of an attempt until the next one is runnable, after a retry and a replay', async () => {
    const w = await h.worker({ queues: ['progress-retry'] });
    const { job_id } = await h.enqueue({
      tenant: 'acme',
      queue: 'progress-retry',
      max_attempts: 2,
      backoff: { initial_ms: 1, max_ms: 1 },
    });
    const reportAndFail = async (retryable: boolean, state: string): Promise<void> => {
      const [lease] = await w.take(1);
      w.send({
        progress: { job_id, lease_token: lease!.lease_token, data: Buffer.from('90%') },
      });
      await expect
        .poll(async () => (await h.getJob('acme', job_id)).progress.toString())
        .toBe('90%');
      w.fail(lease!, 'late failure', retryable);
      // The failed attempt's progress stays readable while the job waits or lies dead.
      expect((await h.waitState('acme', job_id, state)).progress.toString()).toBe('90%');
    };
    await reportAndFail(true, 'FAILED_RETRYING');
    const [second] = await w.take(1);
    expect(second!.attempt).toBe(2);
    expect((await h.getJob('acme', job_id)).progress).toEqual(Buffer.alloc(0));
    w.fail(second!, 'again', false);
    await h.waitState('acme', job_id, 'DEAD');

    await h.replay({ tenant: 'acme', queue: 'progress-retry', job_ids: [job_id] });
    await reportAndFail(false, 'DEAD');
    await h.replay({ tenant: 'acme', queue: 'progress-retry', job_ids: [job_id] });
    const [replayed] = await w.take(1);
    const job = await h.getJob('acme', job_id);
    expect(job.progress).toEqual(Buffer.alloc(0));
    expect(job.progress_content_type).toBe('');
    w.complete(replayed!);
  });

  it('pages dead letters of large payloads in pages that fit a gRPC message', async () => {
    // 20 dead jobs of 256 KiB each: a page of the default 100 would be 5 MiB,
    // over grpc-js's default 4 MiB receive limit.
    const w = await h.worker({ queues: ['big-dead'], capacity: 20 });
    const payload = Buffer.alloc(256 * 1024, 7);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push((await h.enqueue({ tenant: 'acme', queue: 'big-dead', payload })).job_id);
    for (const lease of await w.take(20)) w.fail(lease, 'nope', false);
    for (const id of ids) await h.waitState('acme', id, 'DEAD');

    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const page = await h.listDead({ tenant: 'acme', queue: 'big-dead', page_token: token });
      expect(page.jobs.length).toBeGreaterThan(0);
      expect(Number(page.total)).toBe(20);
      // Buffer.equals: toEqual walks 256 KiB byte by byte, seconds a page on a busy machine.
      for (const job of page.jobs) expect(job.payload.equals(payload)).toBe(true);
      seen.push(...page.jobs.map((job) => job.id));
      token = page.next_page_token;
      pages++;
    } while (token !== '');
    expect(pages).toBeGreaterThan(1);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('replays dead letters by id and all at once', async () => {
    const w = await h.worker({ queues: ['replay'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await h.enqueue({ tenant: 'acme', queue: 'replay', max_attempts: 1 })).job_id);
    }
    for (const lease of await w.take(3)) w.fail(lease, 'nope');
    for (const id of ids) await h.waitState('acme', id, 'DEAD');
    const enqueuedRunAt = Number((await h.getJob('acme', ids[0]!)).run_at_unix_ms);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const replayedAt = Date.now();
    const one = await h.replay({
      tenant: 'acme',
      queue: 'replay',
      job_ids: [ids[0]!, 'missing-id', ids[0]!],
    });
    // an id named twice is replayed once, and not also "not found"
    expect(one.replayed).toBe(1);
    expect(one.not_found).toEqual(['missing-id']);
    const [replayed] = await w.take(1);
    expect(replayed!.job_id).toBe(ids[0]);
    expect(replayed!.attempt).toBe(1);
    // Runnable from the replay: its wait does not count the time it lay dead.
    const runAt = Number((await h.getJob('acme', ids[0]!)).run_at_unix_ms);
    expect(runAt).toBeGreaterThan(enqueuedRunAt);
    expect(runAt).toBeGreaterThanOrEqual(replayedAt);
    w.complete(replayed!);

    const rest = await h.replay({ tenant: 'acme', queue: 'replay', all: true });
    expect(rest.replayed).toBe(2);
    const leases = await w.take(2);
    expect(leases.map((l) => l.job_id).sort()).toEqual([ids[1], ids[2]].sort());
    for (const lease of leases) w.complete(lease);
    expect(Number((await h.listDead({ tenant: 'acme', queue: 'replay' })).total)).toBe(0);
  });

  it('replays a dead letter queue larger than one replay step, each job once', async () => {
    const count = 1200; // more than two steps of the broker's replay loop
    const jobs = Array.from({ length: count }, () => ({
      tenant: 'acme',
      queue: 'big-replay',
      max_attempts: 1,
    }));
    await h.enqueueBatch(jobs.slice(0, count / 2));
    await h.enqueueBatch(jobs.slice(count / 2));
    const w = await h.worker({ queues: ['big-replay'], capacity: count / 2 });
    for (const round of [1, 2]) {
      for (const lease of await w.take(count / 2)) w.fail(lease, `nope ${round}`);
    }
    const deadCount = async (): Promise<number> =>
      Number((await h.listDead({ tenant: 'acme', queue: 'big-replay' })).total);
    await eventually(async () => ((await deadCount()) === count ? true : undefined));
    const all = await h.replay({ tenant: 'acme', queue: 'big-replay', all: true });
    expect(all).toEqual({ replayed: count, not_found: [] });
    const replayed = new Set<string>();
    while (replayed.size < count) {
      for (const lease of await w.take(count / 2)) {
        replayed.add(lease.job_id);
        w.complete(lease);
      }
    }
    expect(replayed.size).toBe(count);
    expect(await deadCount()).toBe(0);
  });

  it('deletes dead letters by id and all at once, past one step; refuses a call naming neither', async () => {
    const count = 1100; // more than two steps of the broker's loop
    const jobs = Array.from({ length: count }, () => ({
      tenant: 'acme',
      queue: 'delete-dead',
      max_attempts: 1,
    }));
    const ids: string[] = [];
    for (const half of [jobs.slice(0, count / 2), jobs.slice(count / 2)]) {
      ids.push(...(await h.enqueueBatch(half)).results.map((item) => item.job_id));
    }
    const w = await h.worker({ queues: ['delete-dead'], capacity: count / 2 });
    for (let round = 0; round < 2; round++) {
      for (const lease of await w.take(count / 2)) w.fail(lease, 'nope');
    }
    const deadCount = async (): Promise<number> =>
      Number((await h.listDead({ tenant: 'acme', queue: 'delete-dead' })).total);
    await eventually(async () => ((await deadCount()) === count ? true : undefined));

    const one = await h.deleteDead({
      tenant: 'acme',
      queue: 'delete-dead',
      job_ids: [ids[0]!, 'missing-id', ids[0]!],
    });
    expect(one).toEqual({ deleted: 1, not_found: ['missing-id'] });
    await expect(h.getJob('acme', ids[0]!)).rejects.toMatchObject({ code: status.NOT_FOUND });
    for (const request of [
      { tenant: 'acme', queue: 'delete-dead' },
      { tenant: 'acme', queue: 'delete-dead', job_ids: [ids[1]!], all: true },
    ]) {
      const refused = await h.deleteDead(request).then(
        () => undefined,
        (error: unknown) => error as { code: number; details: string },
      );
      expect(refused?.code).toBe(status.INVALID_ARGUMENT);
      expect(refused?.details).toMatch(/job_ids to delete|either job_ids or all/);
    }
    expect(await h.deleteDead({ tenant: 'acme', queue: 'delete-dead', all: true })).toEqual({
      deleted: count - 1,
      not_found: [],
    });
    expect(await deadCount()).toBe(0);
    await expect(h.getJob('acme', ids[count - 1]!)).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
  });

  it('refuses a call naming over 10,000 job_ids before taking any; answers one naming 10,000', async () => {
    const queue = 'many-ids';
    const w = await h.worker({ queues: [queue] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue, max_attempts: 1 });
    const [lease] = await w.take(1);
    w.fail(lease!, 'nope');
    await h.waitState('acme', job_id, 'DEAD');
    // Ids of 64 characters, the longest: 10,000 of them not found answer in some 660 KiB.
    const unknown = Array.from({ length: 10_000 }, (_, i) => `gone-${String(i).padStart(59, '0')}`);
    const named = [job_id, ...unknown];
    const calls = [
      ['replay', () => h.replay({ tenant: 'acme', queue, job_ids: named })],
      ['delete', () => h.deleteDead({ tenant: 'acme', queue, job_ids: named })],
    ] as const;
    for (const [action, take] of calls) {
      await expect(take()).rejects.toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: `job_ids names 10001 jobs; a call may name at most 10000: split them over several calls, or set all = true to ${action} the whole dead letter queue`,
      });
    }
    expect((await h.getJob('acme', job_id)).state).toBe('DEAD');

    const within = await h.replay({ tenant: 'acme', queue, job_ids: named.slice(0, 10_000) });
    expect(within.replayed).toBe(1);
    expect(within.not_found).toEqual(unknown.slice(0, 9_999));
    const [replayed] = await w.take(1);
    w.complete(replayed!);
  });

  it('lists the jobs that wait: ready ones in lease order, delayed and retrying ones soonest first', async () => {
    const queue = 'list-jobs';
    const w = await h.worker({ queues: [queue], capacity: 1 });
    const retried = (await h.enqueue({ tenant: 'acme', queue, priority: 9 })).job_id;
    const [lease] = await w.take(1);
    expect(lease!.job_id).toBe(retried);
    // The worker is full from here on; the broker may read some ahead (still waiting).
    const ids = new Map<string, string>();
    for (const [name, priority] of [
      ['low-1', 0],
      ['high-1', 9],
      ['mid', 5],
      ['low-2', 0],
      ['high-2', 9],
    ] as const) {
      ids.set(name, (await h.enqueue({ tenant: 'acme', queue, priority })).job_id);
    }
    const later = (await h.enqueue({ tenant: 'acme', queue, delay_ms: 120_000 })).job_id;
    const sooner = (await h.enqueue({ tenant: 'acme', queue, delay_ms: 60_000 })).job_id;

    const listed: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await h.listJobs({
        tenant: 'acme',
        queue,
        state: 'WAITING',
        page_size: 2,
        page_token: pageToken,
      });
      expect(page.jobs.every((job) => job.state === 'WAITING')).toBe(true);
      listed.push(...page.jobs.map((job) => job.id));
      pageToken = page.next_page_token;
      pages++;
    } while (pageToken !== '' && pages < 10);
    // the leased job is not among them
    expect(listed).toEqual(['high-1', 'high-2', 'mid', 'low-1', 'low-2'].map((n) => ids.get(n)));
    expect(pages).toBeGreaterThanOrEqual(3);

    w.fail(lease!, 'later', true, 90_000);
    await h.waitState('acme', retried, 'FAILED_RETRYING');
    const delayed = await h.listJobs({ tenant: 'acme', queue, state: 'DELAYED' });
    expect(delayed.jobs.map((job) => [job.id, job.state])).toEqual([
      [sooner, 'DELAYED'],
      [retried, 'FAILED_RETRYING'],
      [later, 'DELAYED'],
    ]);
    expect(delayed.next_page_token).toBe('');

    const refusals: Array<[Parameters<typeof h.listJobs>[0], RegExp]> = [
      [{ tenant: 'acme', queue, state: 'LEASED' }, /^state must be WAITING .* or DELAYED/],
      [{ tenant: 'acme', queue }, /^state must be WAITING/],
      [{ tenant: 'acme', queue, state: 'WAITING', page_token: '7' }, /page_token "7" is not one/],
      [{ tenant: 'acme', queue, state: 'DELAYED', page_token: '9:1-1' }, /page_token "9:1-1"/],
      [{ tenant: 'acme', queue, state: 'DELAYED', page_size: 1001 }, /^page_size is 1001/],
      [{ tenant: 'acme', queue: 'job', state: 'WAITING' }, /reserved/],
    ];
    for (const [request, message] of refusals) {
      const refused = await h.listJobs(request).then(
        () => undefined,
        (error: unknown) => error as { code: number; details: string },
      );
      expect(refused?.code).toBe(status.INVALID_ARGUMENT);
      expect(refused?.details).toMatch(message);
    }
  });

  it('cancels a waiting and a delayed job', async () => {
    const waiting = await h.enqueue({ tenant: 'acme', queue: 'cancel-me' });
    const delayed = await h.enqueue({ tenant: 'acme', queue: 'cancel-me', delay_ms: 60_000 });
    expect(await h.cancel('acme', waiting.job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
    expect(await h.cancel('acme', delayed.job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
    expect(await h.cancel('acme', waiting.job_id)).toEqual({
      cancelled: false,
      state: 'CANCELLED',
    });
    const marker = await h.enqueue({ tenant: 'acme', queue: 'cancel-me' });
    const w = await h.worker({ queues: ['cancel-me'] });
    const [lease] = await w.take(1);
    expect(lease!.job_id).toBe(marker.job_id);
  });

  it('cancels a leased job and tells its worker', async () => {
    const w = await h.worker({ queues: ['cancel-leased'] });
    const { job_id } = await h.enqueue({ tenant: 'acme', queue: 'cancel-leased' });
    const [lease] = await w.take(1);
    expect(await h.cancel('acme', job_id)).toEqual({ cancelled: true, state: 'CANCELLED' });
    await expect.poll(() => w.cancels()).toContain(job_id);
    w.complete(lease!);
    await expect
      .poll(() => w.ackOutcomes().map((o) => [o.job_id, o.status]))
      .toContainEqual([job_id, 'ACK_STALE']);
    expect((await h.getJob('acme', job_id)).state).toBe('CANCELLED');
  });
});

describe('priorities within a tenant', () => {
  it('drains higher priorities first', async () => {
    for (const priority of [0, 0, 9, 5, 9, 0])
      await h.enqueue({
        tenant: 'acme',
        queue: 'prio',
        priority,
        payload: Buffer.from(String(priority)),
      });
    const w = await h.worker({ queues: ['prio'], capacity: 1 });
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const [lease] = await w.take(1);
      order.push(lease!.payload.toString());
      w.complete(lease!);
    }
    expect(order).toEqual(['9', '9', '5', '0', '0', '0']);
  });

  it('puts an urgent job ahead of a buffered backlog of the same tenant', async () => {
    await h.enqueueBatch(Array.from({ length: 200 }, () => ({ tenant: 'acme', queue: 'urgent' })));
    const w = await h.worker({ queues: ['urgent'], capacity: 1 });
    const [held] = await w.take(1);
    const urgent = await h.enqueue({ tenant: 'acme', queue: 'urgent', priority: 9 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    w.complete(held!);
    const [next] = await w.take(1);
    expect(next!.job_id).toBe(urgent.job_id);
  });
});

describe('priorities within a tenant whose buffer is at its target', () => {
  /**
   * A lone tenant of the queue with a backlog of priority-0 jobs, its buffer
   * at its target (PREFETCH_MAX) and its one worker busy: news of work read
   * nothing then, and a dispatch read again only once the buffer fell to half.
   */
  async function busyWithBufferFull(queue: string) {
    for (let i = 0; i < 2; i++) {
      await h.enqueueBatch(
        Array.from({ length: PREFETCH_MAX }, () => ({
          tenant: 'acme',
          queue,
          payload: Buffer.from('0'),
        })),
      );
    }
    const worker = await h.worker({ queues: [queue], capacity: 1 });
    const dispatcher = h.broker.broker.dispatcher(queue);
    const held = await holdWithBufferFull(dispatcher, worker);
    return { worker, held, buffered: () => dispatcher.prefetchUse().jobs };
  }

  /** Completes `held`, then runs `count` more jobs one at a time; their payloads in lease order. */
  async function runInOrder(worker: RawWorker, held: Lease__Output, count: number) {
    worker.complete(held);
    const payloads: string[] = [];
    for (let i = 0; i < count; i++) {
      const [lease] = await worker.take(1);
      payloads.push(lease!.payload.toString());
      worker.complete(lease!);
    }
    return payloads;
  }

  it('leases an urgent job next, not after the half of the buffer a refill waited for', async () => {
    const { worker, held } = await busyWithBufferFull('full-urgent');
    const urgent = await h.enqueue({ tenant: 'acme', queue: 'full-urgent', priority: 9 });
    worker.complete(held);
    const [next] = await worker.take(1);
    expect(next!.job_id).toBe(urgent.job_id);
  });

  it('reads nothing for news of jobs that beat none buffered: the buffer stays at its target', async () => {
    const { buffered } = await busyWithBufferFull('full-flat');
    for (let i = 0; i < 50; i++) await h.enqueue({ tenant: 'acme', queue: 'full-flat' });
    expect(buffered()).toBe(PREFETCH_MAX);
  });

  it('leases a flood of urgent jobs first, its buffer a quarter past its target at most', async () => {
    const queue = 'full-flood';
    const { worker, held, buffered } = await busyWithBufferFull(queue);
    let most = 0;
    for (let i = 0; i < 200; i++) {
      await h.enqueue({ tenant: 'acme', queue, priority: 5, payload: Buffer.from('5') });
      most = Math.max(most, buffered());
    }
    expect(most).toBeGreaterThan(PREFETCH_MAX);
    expect(most).toBeLessThanOrEqual(PREFETCH_MAX * 1.25);
    const order = await runInOrder(worker, held, 201);
    expect(order).toEqual([...Array<string>(200).fill('5'), '0']);
  });

  it('leases a delayed urgent job next once it comes due', async () => {
    const queue = 'full-due';
    const { worker, held, buffered } = await busyWithBufferFull(queue);
    const urgent = await h.enqueue({ tenant: 'acme', queue, priority: 9, delay_ms: 200 });
    // Read at its due time: the buffer holds it beside the others.
    await expect.poll(buffered).toBe(PREFETCH_MAX + 1);
    worker.complete(held);
    const [next] = await worker.take(1);
    expect(next!.job_id).toBe(urgent.job_id);
  });

  it('leases a delayed urgent job next once it comes due, enqueued in one batch with a runnable job', async () => {
    // The batch's claim read for the runnable job, and its due time was not
    // noted: with the buffer full the claim read nothing, and the urgent job
    // stayed DELAYED until half the buffer had run.
    const queue = 'full-due-batch';
    const { worker, held, buffered } = await busyWithBufferFull(queue);
    const { results } = await h.enqueueBatch([
      { tenant: 'acme', queue, payload: Buffer.from('0') },
      { tenant: 'acme', queue, priority: 9, delay_ms: 200, payload: Buffer.from('9') },
    ]);
    await expect.poll(buffered, { timeout: 5000 }).toBe(PREFETCH_MAX + 1);
    worker.complete(held);
    const [next] = await worker.take(1);
    expect(next!.job_id).toBe(results[1]!.job_id);
  });

  it('reads a job that came due again after the read that was to take it failed', async () => {
    const queue = 'full-due-failed';
    const { worker, held, buffered } = await busyWithBufferFull(queue);
    const { store } = h.broker.broker;
    const fetch = store.fetch.bind(store);
    let failed = 0;
    store.fetch = async (fetchQueue, wants, now) => {
      if (fetchQueue === queue && failed === 0 && wants.some((want) => want.above !== undefined)) {
        failed++;
        throw new Error('the read of higher priorities failed');
      }
      return fetch(fetchQueue, wants, now);
    };
    try {
      const urgent = await h.enqueue({ tenant: 'acme', queue, priority: 9, delay_ms: 200 });
      await expect.poll(buffered, { timeout: 5000 }).toBe(PREFETCH_MAX + 1);
      expect(failed).toBe(1);
      worker.complete(held);
      const [next] = await worker.take(1);
      expect(next!.job_id).toBe(urgent.job_id);
    } finally {
      store.fetch = fetch;
    }
  });
});
