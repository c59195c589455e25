import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineScripts, sendBatch } from '../../src/store/scripts.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

/** Reads Redis has done off its sockets so far (the INFO call's own read included). */
async function readsProcessed(observer: Redis): Promise<number> {
  const info = await observer.info('stats');
  const match = /total_reads_processed:(\d+)/.exec(info);
  if (!match) throw new Error('INFO stats has no total_reads_processed');
  return Number(match[1]);
}

describe('sendBatch', () => {
  let server: TestRedis;
  let redis: Redis;
  let observer: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url, { lazyConnect: true });
    observer = new Redis(server.url, { lazyConnect: true });
    await Promise.all([redis.connect(), observer.connect()]);
    defineScripts(redis);
  });
  afterAll(async () => {
    redis.disconnect();
    observer.disconnect();
    await server.dispose();
  });

  it('answers every command in the order queued, scripts among them', async () => {
    const replies = await sendBatch(redis, (batch) => {
      batch.add(redis.set('batch:a', '1'));
      batch.add(redis.incr('batch:a'));
      batch.script('stats', ['batch:levels'], [Buffer.from([0x90])], true); // an empty packed list
      batch.add(redis.get('batch:a'));
    });
    expect(replies.slice(0, 2)).toEqual(['OK', 2]);
    expect(Buffer.isBuffer(replies[2])).toBe(true);
    expect(replies[3]).toBe('2');
  });

  it('reaches Redis in one write', async () => {
    await redis.ping(); // the connection is ready: the batch goes out corked
    const before = await readsProcessed(observer);
    await sendBatch(redis, (batch) => {
      for (let i = 0; i < 20; i++) batch.add(redis.set(`batch:one-write:${i}`, i));
    });
    // One read for the batch, one for the second INFO.
    expect((await readsProcessed(observer)) - before).toBe(2);
  });

  it('fails the call with the first failed command, and runs the rest anyway', async () => {
    await redis.set('batch:text', 'not a number');
    await expect(
      sendBatch(redis, (batch) => {
        batch.add(redis.incr('batch:text'));
        batch.add(redis.set('batch:after-failure', 'ran'));
      }),
    ).rejects.toThrow(/not an integer/);
    expect(await redis.get('batch:after-failure')).toBe('ran');
  });

  it('leaves the connection usable when queueing throws half-way', async () => {
    await expect(
      sendBatch(redis, (batch) => {
        batch.add(redis.set('batch:half', 'sent'));
        throw new Error('bad argument');
      }),
    ).rejects.toThrow('bad argument');
    // A socket left corked would hold this command forever.
    expect(await redis.get('batch:half')).toBe('sent');
  });

  it('leaves no unobserved rejection behind when queueing throws after a failing command', async () => {
    const unobserved: unknown[] = [];
    const record = (reason: unknown): void => void unobserved.push(reason);
    process.on('unhandledRejection', record);
    try {
      await redis.set('batch:text-2', 'not a number');
      await expect(
        sendBatch(redis, (batch) => {
          batch.add(redis.incr('batch:text-2'));
          throw new Error('bad argument');
        }),
      ).rejects.toThrow('bad argument');
      await redis.ping(); // the INCR has been answered (with its error) by now
      await new Promise((resolve) => setImmediate(resolve));
      expect(unobserved).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('sends a batch queued before the connection is ready once it is', async () => {
    const late = new Redis(server.url, { lazyConnect: true });
    try {
      const replies = sendBatch(late, (batch) => {
        batch.add(late.set('batch:late', 'x'));
        batch.add(late.get('batch:late'));
      });
      await expect(replies).resolves.toEqual(['OK', 'x']);
    } finally {
      late.disconnect();
    }
  });
});
