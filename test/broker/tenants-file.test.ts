import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBroker } from '../helpers/harness.js';
import { eventually, type TestBroker } from '../helpers/broker.js';

// Broker A (the harness's) has no tenants file; B, started by each test, has one.
// Redis with AOF appendfsync always: only restartEmpty loses its keys.
const h = useBroker({}, { appendfsync: 'always' });

let dir: string;
let tenantsFile: string;
beforeAll(async () => {
  dir = await mkdtemp(`${tmpdir()}/rota-tenants-`);
  tenantsFile = `${dir}/tenants.yaml`;
  await writeFile(
    tenantsFile,
    [
      '- tenant: filed',
      '  weight: 3',
      '  rate: 5',
      '  queues:',
      '    - queue: pdf',
      '      paused: true',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** B with the tenants file, and the messages it logs at warn or above. */
async function withFile(test: (b: TestBroker, warnings: string[]) => Promise<void>): Promise<void> {
  const warnings: string[] = [];
  const b = await h.startPeer({ tenantsFile, onLog: (line) => warnings.push(String(line.msg)) });
  try {
    await test(b, warnings);
  } finally {
    await b.shutdown();
  }
}

/** The file's settings, as GetTenant (through A) shows them once they are in Redis again. */
async function fileSettingsBack(): Promise<void> {
  const tenant = await eventually(
    async () => {
      const shown = await h.getTenant('filed').catch(() => undefined);
      return shown?.rate === 5 ? shown : undefined;
    },
    { timeoutMs: 20_000 },
  );
  expect(tenant).toMatchObject({ weight: 3, rate: 5 });
  expect(tenant.queues).toEqual([expect.objectContaining({ queue: 'pdf', paused: true })]);
}

const reapplied = (warnings: readonly string[]) =>
  warnings.filter((message) => message.includes('applied the tenants file again'));

describe('tenants file', () => {
  it('is applied again when Redis restarts without its data (two brokers have the file)', async () => {
    await withFile(async (b, warnings) => {
      const c = await h.startPeer({
        tenantsFile,
        onLog: (line) => warnings.push(String(line.msg)),
      });
      try {
        await h.redis.restartEmpty();
        await fileSettingsBack();
        // By the first to notice, or by both: the same settings twice. The
        // line comes once the writes have answered, so it can follow them.
        await expect.poll(() => reapplied(warnings).length).toBeGreaterThanOrEqual(1);
        for (const broker of [b, c]) {
          expect(broker.broker.limits.weight('filed', 'email')).toBe(3);
          expect(broker.broker.limits.blockedUntil('filed', 'pdf')).toBe(Infinity);
        }
      } finally {
        await c.shutdown();
      }
    });
  });

  it('is applied again when the keys are flushed without a reconnect', async () => {
    await withFile(async (_b, warnings) => {
      const admin = new Redis(h.redis.url);
      try {
        await admin.flushall();
      } finally {
        admin.disconnect();
      }
      await fileSettingsBack();
      await expect.poll(() => reapplied(warnings)).toHaveLength(1);
    });
  });

  it('is not applied over later SetTenant changes after a cut connection or a restart that kept the data', async () => {
    await withFile(async (b, warnings) => {
      await h.setTenant({ tenant: 'filed', weight: 7, queues: [{ queue: 'pdf', paused: false }] });
      await eventually(() => (b.broker.limits.weight('filed', 'email') === 7 ? true : undefined));
      const admin = new Redis(h.redis.url);
      try {
        await admin.call('CLIENT', 'KILL', 'TYPE', 'normal');
      } finally {
        admin.disconnect();
      }
      await h.redis.restart();
      await eventually(() => h.getTenant('filed').catch(() => undefined));
      // Past the periodic check of the settings (every 5 s) as well as the reconnect.
      await new Promise((resolve) => setTimeout(resolve, 6000));
      expect(await h.getTenant('filed')).toMatchObject({ weight: 7, rate: 5 });
      expect(b.broker.limits.weight('filed', 'email')).toBe(7);
      expect(b.broker.limits.blockedUntil('filed', 'pdf')).not.toBe(Infinity);
      expect(reapplied(warnings)).toEqual([]);
    });
  });
});
