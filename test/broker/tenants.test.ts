import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { status, type ServiceError } from '@grpc/grpc-js';
import { useBroker } from '../helpers/harness.js';
import { autoComplete } from '../helpers/raw-worker.js';
import { eventually } from '../helpers/broker.js';

const h = useBroker();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function flood(tenant: string, queue: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += 1000) {
    await h.enqueueBatch(
      Array.from({ length: Math.min(1000, count - done) }, () => ({ tenant, queue })),
    );
  }
}

function shares(order: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const tenant of order) counts.set(tenant, (counts.get(tenant) ?? 0) + 1);
  return new Map([...counts].map(([tenant, count]) => [tenant, count / order.length]));
}

async function rejection(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError;
  return { code: error.code, details: error.details };
}

describe('tenant settings', () => {
  it('stores, merges and lists settings', async () => {
    const set = await h.setTenant({
      tenant: 'acme',
      weight: 2,
      rate: 10,
      queues: [{ queue: 'pdf', max_in_flight: 3 }],
    });
    expect(set).toMatchObject({
      tenant: 'acme',
      weight: 2,
      rate: 10,
      burst: 0,
      max_in_flight: 0,
      max_queued: '0',
    });
    const merged = await h.setTenant({ tenant: 'acme', max_queued: 500 });
    expect(merged).toMatchObject({ weight: 2, rate: 10, max_queued: '500' });
    expect(merged.queues).toEqual([expect.objectContaining({ queue: 'pdf', max_in_flight: 3 })]);
    expect((await h.getTenant('nobody')).weight).toBe(1);
    expect((await h.listTenants()).map((t) => t.tenant)).toContain('acme');
  });

  it('changes only the fields a queue override gives, and clears one that gives none', async () => {
    await h.setTenant({
      tenant: 'overrides',
      weight: 2,
      queues: [{ queue: 'email', weight: 5, rate: 20, burst: 4, max_in_flight: 3 }],
    });
    const email = async () =>
      (await h.getTenant('overrides')).queues.find((q) => q.queue === 'email');
    // Pausing the queue (as an operator would before a purge) keeps its weight and caps.
    await h.setTenant({ tenant: 'overrides', queues: [{ queue: 'email', paused: true }] });
    expect(await email()).toMatchObject({
      weight: 5,
      rate: 20,
      burst: 4,
      max_in_flight: 3,
      paused: true,
    });
    await h.setTenant({
      tenant: 'overrides',
      queues: [{ queue: 'email', max_in_flight: 6, paused: false }],
    });
    expect(await email()).toMatchObject({
      weight: 5,
      rate: 20,
      burst: 4,
      max_in_flight: 6,
      paused: false,
    });
    // A burst alone is checked against the rate the override keeps.
    await h.setTenant({ tenant: 'overrides', queues: [{ queue: 'email', burst: 8 }] });
    expect(await email()).toMatchObject({ rate: 20, burst: 8 });
    // The queue name alone clears the override: the queue follows the tenant's settings again.
    const cleared = await h.setTenant({ tenant: 'overrides', queues: [{ queue: 'email' }] });
    expect(cleared.queues).toEqual([]);
    expect(cleared.weight).toBe(2);
  });

  it('loses none of concurrent SetTenant calls of one tenant', async () => {
    const queues = Array.from({ length: 20 }, (_, i) => `concurrent-${i}`);
    await Promise.all(
      queues.map((queue, i) =>
        h.setTenant({ tenant: 'busy-admins', queues: [{ queue, max_in_flight: i + 1 }] }),
      ),
    );
    const stored = await h.getTenant('busy-admins');
    expect(new Map(stored.queues.map((q) => [q.queue, q.max_in_flight]))).toEqual(
      new Map(queues.map((queue, i) => [queue, i + 1])),
    );
  });

  it.each([
    [
      { tenant: 'acme', weight: 0 },
      'tenant "acme": weight must be a number from 0.001 to 1000000, got 0',
    ],
    [
      { tenant: 'acme', weight: 1e-300 },
      'tenant "acme": weight must be a number from 0.001 to 1000000, got 1e-300',
    ],
    [
      { tenant: 'acme', rate: -1 },
      'tenant "acme": rate must be a finite number ≥ 0 (0 = unlimited), got -1',
    ],
    [{ tenant: 'bad name' }, 'tenant.tenant is "bad name"; it must match [A-Za-z0-9_.-]{1,64}'],
    [
      { tenant: 'acme', queues: [{ queue: 'q', burst: 5 }] },
      'tenant "acme" queue "q": burst is set without rate; an override\'s burst sizes the override\'s own bucket, so set rate too',
    ],
  ])('refuses bad settings %#', async (tenant, details) => {
    expect(await rejection(h.setTenant(tenant))).toEqual({
      code: status.INVALID_ARGUMENT,
      details,
    });
  });

  it('pauses a tenant (or one queue of it): its jobs queue up, the others are served', async () => {
    const paused = await h.setTenant({ tenant: 'resting', paused: true });
    expect(paused.paused).toBe(true);
    expect((await h.getTenant('resting')).paused).toBe(true);
    await h.setTenant({ tenant: 'one-queue', queues: [{ queue: 'pause-q', paused: true }] });
    const resting = await h.enqueue({ tenant: 'resting', queue: 'pause-q' });
    const oneQueue = await h.enqueue({ tenant: 'one-queue', queue: 'pause-q' });
    const busy = await h.enqueue({ tenant: 'busy', queue: 'pause-q' });
    const w = await h.worker({ queues: ['pause-q'] });
    const [served] = await w.take(1);
    expect(served!.job_id).toBe(busy.job_id);
    w.complete(served!);
    await sleep(300);
    expect(w.leases).toHaveLength(1);
    expect((await h.getJob('resting', resting.job_id)).state).toBe('WAITING');
    // another setting leaves the pause as it is
    expect((await h.setTenant({ tenant: 'resting', weight: 2 })).paused).toBe(true);
    await h.setTenant({ tenant: 'resting', paused: false });
    const [resumed] = await w.take(1);
    expect(resumed!.job_id).toBe(resting.job_id);
    await h.setTenant({ tenant: 'one-queue', queues: [{ queue: 'pause-q', paused: false }] });
    const [alsoResumed] = await w.take(1);
    expect(alsoResumed!.job_id).toBe(oneQueue.job_id);
    // a job that arrives while a worker waits is not leased either
    await h.setTenant({ tenant: 'resting', paused: true });
    const arriving = await h.enqueue({ tenant: 'resting', queue: 'pause-q' });
    await sleep(300);
    expect(w.leases).toHaveLength(3);
    expect((await h.getJob('resting', arriving.job_id)).state).toBe('WAITING');
  });

  it('refuses Enqueue over max_queued with RESOURCE_EXHAUSTED', async () => {
    await h.setTenant({ tenant: 'capped', max_queued: 3 });
    for (let i = 0; i < 3; i++) await h.enqueue({ tenant: 'capped', queue: 'q' });
    expect(await rejection(h.enqueue({ tenant: 'capped', queue: 'q' }))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details:
        'tenant capped has 3 jobs waiting (ready or delayed) in queue q, its max_queued limit; retry later, or raise max_queued with Admin.SetTenant',
    });
    const { results } = await h.enqueueBatch([
      { tenant: 'capped', queue: 'q' },
      { tenant: 'other', queue: 'q' },
    ]);
    expect(results.map((r) => r.code)).toEqual([status.RESOURCE_EXHAUSTED, 0]);
    await h.enqueue({ tenant: 'capped', queue: 'another-queue' }); // the limit is per queue
  });
});

describe('weighted fair dispatch', () => {
  it('serves backlogged tenants in proportion to their weights (±5%)', async () => {
    const weights = { w1: 1, w2: 2, w4: 4 };
    for (const [tenant, weight] of Object.entries(weights)) {
      await h.setTenant({ tenant, weight });
      await flood(tenant, 'weighted', 3000);
    }
    const worker = await h.worker({ queues: ['weighted'], capacity: 20 });
    const run = autoComplete(worker);
    await eventually(() => (run.order.length >= 1750 ? true : undefined), { timeoutMs: 20_000 });
    run.stop();
    // After a warm-up (buffers filling one tenant before another), while every tenant is backlogged.
    const measured = shares(run.order.slice(350, 1750));
    for (const [tenant, weight] of Object.entries(weights)) {
      const expected = weight / 7;
      expect(Math.abs(measured.get(tenant)! - expected) / expected).toBeLessThanOrEqual(0.05);
    }
  });

  it('holds a rate-limited tenant to its rate while others take the rest', async () => {
    await h.setTenant({ tenant: 'limited', rate: 50, burst: 5 });
    await flood('limited', 'rated', 1000);
    await flood('free', 'rated', 5000);
    const worker = await h.worker({ queues: ['rated'], capacity: 20 });
    const run = autoComplete(worker);
    await sleep(5000);
    run.stop();
    const limited = run.order.filter((t) => t === 'limited').length;
    expect(limited).toBeGreaterThanOrEqual(225);
    expect(limited).toBeLessThanOrEqual(275 + 5); // 50/s × 5 s ± 10%, plus the burst
    expect(run.order.length - limited).toBeGreaterThan(limited * 4); // work-conserving
  });

  it('never exceeds max_in_flight and gives the spare capacity to others', async () => {
    await h.setTenant({ tenant: 'narrow', max_in_flight: 2 });
    await flood('narrow', 'capped-flight', 20);
    await flood('wide', 'capped-flight', 20);
    const worker = await h.worker({ queues: ['capped-flight'], capacity: 10 });
    const first = await worker.take(10);
    expect(first.filter((l) => l.tenant === 'narrow').length).toBeLessThanOrEqual(2);
    await sleep(200);
    expect(worker.leases).toHaveLength(10); // capacity is full, not held back by the cap
    // Complete the oldest lease, one at a time: the cap holds throughout, and narrow still finishes.
    const outstanding = [...first];
    let seen = first.length;
    let completed = 0;
    while (completed < 40) {
      const oldest = outstanding.shift();
      if (oldest) {
        worker.complete(oldest);
        completed++;
      }
      await sleep(20);
      outstanding.push(...worker.leases.slice(seen));
      seen = worker.leases.length;
      expect(outstanding.filter((l) => l.tenant === 'narrow').length).toBeLessThanOrEqual(2);
    }
    expect(worker.leases.filter((l) => l.tenant === 'narrow')).toHaveLength(20);
  });

  it('holds the limits for jobs that arrive while workers wait (direct dispatch)', async () => {
    // Each job arrives alone while a worker has room: its fetch leases it at once.
    await h.setTenant({ tenant: 'arrive-capped', max_in_flight: 2 });
    const dedicated = await h.worker({
      queues: ['arrive'],
      tenants: ['arrive-other'],
      capacity: 10,
    });
    const shared = await h.worker({ queues: ['arrive'], capacity: 10 });
    for (let i = 0; i < 5; i++) {
      await h.enqueue({ tenant: 'arrive-capped', queue: 'arrive' });
      await sleep(30);
    }
    await sleep(200);
    expect(shared.leases.map((l) => l.tenant)).toEqual(['arrive-capped', 'arrive-capped']);
    expect(dedicated.leases).toHaveLength(0);
    shared.complete(shared.leases[0]!);
    await eventually(() => (shared.leases.length === 3 ? true : undefined));
    const { job_id } = await h.enqueue({ tenant: 'arrive-other', queue: 'arrive' });
    const holders = (): number =>
      [...dedicated.leases, ...shared.leases].filter((l) => l.job_id === job_id).length;
    await eventually(() => (holders() === 1 ? true : undefined));
    await sleep(100);
    expect(holders()).toBe(1);
    expect(dedicated.leases.every((l) => l.tenant === 'arrive-other')).toBe(true);
    expect(shared.leases.filter((l) => l.tenant === 'arrive-capped')).toHaveLength(3);
  });

  it('gives back the slots of a direct dispatch whose fetch fails', async () => {
    // The consumer group is destroyed under the broker, so the fetch that would
    // lease the next job fails (NOGROUP) while its enqueue succeeds. With one
    // slot and max_in_flight 1, a slot or limit not given back would hold the
    // job forever; given back, the retry a second later serves it.
    await h.setTenant({ tenant: 'faulty', max_in_flight: 1 });
    const worker = await h.worker({ queues: ['fault'], capacity: 1 });
    const { job_id: firstId } = await h.enqueue({ tenant: 'faulty', queue: 'fault' });
    const [first] = await worker.take(1);
    worker.complete(first!);
    await h.waitState('faulty', firstId, 'COMPLETED');

    const stream = `${h.broker.config.keyPrefix}:{faulty}:fault:ready:0`;
    const redis = new Redis(h.redis.url);
    try {
      await redis.xgroup('DESTROY', stream, 'rota');
      // its fetch went out behind the enqueue on the broker's connection: it has failed by now
      const { job_id } = await h.enqueue({ tenant: 'faulty', queue: 'fault' });
      await sleep(100);
      expect(worker.leases).toHaveLength(1);
      await redis.xgroup('CREATE', stream, 'rota', '0');
      const [lease] = await worker.take(1, 5000);
      expect(lease!.job_id).toBe(job_id);
      expect(lease!.attempt).toBe(1);
      expect((await h.getJob('faulty', job_id)).state).toBe('LEASED');
    } finally {
      redis.disconnect();
    }
  });

  it('applies changed weights live, on every broker', async () => {
    const second = await h.startPeer();
    try {
      await h.setTenant({ tenant: 'live', weight: 1 });
      await h.setTenant({ tenant: 'live', weight: 5 });
      await eventually(
        () => (second.broker.limits.weight('live', 'any') === 5 ? true : undefined),
        {
          timeoutMs: 1000,
        },
      );
    } finally {
      await second.shutdown();
    }
    await flood('live', 'live-q', 1500);
    await flood('steady', 'live-q', 1500);
    const worker = await h.worker({ queues: ['live-q'], capacity: 20 });
    const run = autoComplete(worker);
    await eventually(() => (run.order.length >= 600 ? true : undefined), { timeoutMs: 20_000 });
    await h.setTenant({ tenant: 'live', weight: 1 });
    const changedAt = run.order.length;
    await eventually(() => (run.order.length >= changedAt + 1000 ? true : undefined), {
      timeoutMs: 20_000,
    });
    run.stop();
    const before = shares(run.order.slice(0, 600)).get('live')!;
    const after = shares(run.order.slice(changedAt + 100, changedAt + 900)).get('live')!;
    expect(before).toBeGreaterThan(0.78); // 5/6
    expect(after).toBeGreaterThan(0.45);
    expect(after).toBeLessThan(0.55); // 1/2
  });

  it('gives a dedicated worker only its tenants', async () => {
    await flood('vip', 'dedicated', 5);
    await flood('crowd', 'dedicated', 50);
    const vipOnly = await h.worker({ queues: ['dedicated'], capacity: 50, tenants: ['vip'] });
    const leases = await vipOnly.take(5);
    expect(new Set(leases.map((l) => l.tenant))).toEqual(new Set(['vip']));
    await sleep(200);
    expect(vipOnly.leases).toHaveLength(5);
    const shared = await h.worker({ queues: ['dedicated'], capacity: 50 });
    expect(new Set((await shared.take(50)).map((l) => l.tenant))).toEqual(new Set(['crowd']));
  });
});

describe('tenants file', () => {
  it('applies a YAML file at start, with proto or camelCase field names', async () => {
    const dir = await mkdtemp(`${tmpdir()}/rota-tenants-`);
    const file = `${dir}/tenants.yaml`;
    await writeFile(
      file,
      [
        'tenants:',
        '  - tenant: from-file',
        '    weight: 3',
        '    max_in_flight: 7',
        '    queues:',
        '      - queue: pdf',
        '        maxInFlight: 2',
        '        paused: true',
        '',
      ].join('\n'),
    );
    const second = await h.startPeer({ tenantsFile: file });
    try {
      const tenant = await h.getTenant('from-file');
      expect(tenant).toMatchObject({ weight: 3, max_in_flight: 7 });
      expect(tenant.queues).toEqual([
        expect.objectContaining({ queue: 'pdf', max_in_flight: 2, paused: true }),
      ]);
      expect(second.broker.limits.weight('from-file', 'email')).toBe(3);
      expect(second.broker.limits.blockedUntil('from-file', 'pdf')).toBe(Infinity);
    } finally {
      await second.shutdown();
    }
    await writeFile(file, '- tenant: typo\n  maxInFlite: 2\n');
    await expect(h.startPeer({ tenantsFile: file })).rejects.toThrow(
      `${file}: tenants[0] has an unknown field "maxInFlite"`,
    );
    await writeFile(file, '- tenant: unsure\n  paused: "yes"\n');
    await expect(h.startPeer({ tenantsFile: file })).rejects.toThrow(
      'tenant "unsure": paused must be true or false, got yes',
    );
    await rm(dir, { recursive: true });
  });

  it('refuses a file that does not parse or holds no list of tenant objects, naming the file', async () => {
    const dir = await mkdtemp(`${tmpdir()}/rota-tenants-`);
    const yaml = `${dir}/tenants.yaml`;
    const json = `${dir}/tenants.json`;
    const refusal = async (file: string, text: string): Promise<string> => {
      await writeFile(file, text);
      const error = await h.startPeer({ tenantsFile: file }).then(
        () => undefined,
        (err: unknown) => err as Error,
      );
      return error?.message ?? 'started';
    };
    try {
      expect(await refusal(yaml, '- tenant: [unclosed\n')).toMatch(
        new RegExp(`^tenants file ${yaml} is not valid JSON or YAML: YAMLParseError: `),
      );
      // A .json file is read as JSON only: YAML's looser syntax would take this for a string.
      expect(await refusal(json, "[{ tenant: 'acme' }]")).toMatch(
        new RegExp(`^tenants file ${json} is not valid JSON or YAML: SyntaxError: `),
      );
      for (const text of ['tenant: acme\nweight: 2\n', 'tenants: acme\n', '']) {
        expect(await refusal(yaml, text)).toBe(
          `tenants file ${yaml} must hold a list of tenants, or { tenants: [...] }`,
        );
      }
      expect(await refusal(yaml, '- acme\n')).toBe(`${yaml}: tenants[0] must be an object`);
      expect(await refusal(json, '[{"tenant": "acme", "queues": {"pdf": {}}}]')).toBe(
        `${json}: tenants[0].queues must be a list`,
      );
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
