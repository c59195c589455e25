import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packArgs } from '../../src/store/arg-pack.js';
import { startTestRedis, type TestRedis } from '../helpers/redis.js';

// Redis's own cmsgpack reads what packArgs writes: each value comes back as
// the bytes ARGV would have held.
const ECHO = `
local args = cmsgpack.unpack(ARGV[1])
for i = 1, #args do
  if type(args[i]) ~= 'string' then return redis.error_reply('value ' .. i .. ' is a ' .. type(args[i])) end
end
return args`;

describe('packed script arguments', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = new Redis(server.url, { lazyConnect: true });
    await redis.connect();
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  const echo = async (values: Array<string | number | Buffer>): Promise<Buffer[]> =>
    (await redis.callBuffer('EVAL', ECHO, 0, packArgs(values))) as Buffer[];

  it('carries strings, numbers and binary Buffers byte for byte, at every header size', async () => {
    const values = [
      '',
      'job-1',
      'é'.repeat(10), // 20 bytes from 10 units: a fixraw
      'x'.repeat(31),
      'x'.repeat(32),
      'x'.repeat(65),
      'job-🙂-1', // ASCII first, then not: written again by Buffer#write
      '🙂'.repeat(20_000), // 80,000 bytes: raw32
      'a\ud800b', // a lone surrogate: written as U+FFFD, as ioredis would
      0,
      -3,
      1_733_130_000_123,
      0.5,
      Buffer.alloc(0),
      Buffer.from([0, 0xc4, 0xff, 0x0d, 0x0a]),
      Buffer.alloc(31, 1),
      Buffer.alloc(32, 2),
      Buffer.alloc(0xffff, 3),
      Buffer.alloc(0x10000, 4),
    ];
    const expected = values.map((value) =>
      Buffer.isBuffer(value) ? value : Buffer.from(String(value)),
    );
    expect(await echo(values)).toEqual(expected);
  });

  it('carries arrays of every header size', async () => {
    for (const length of [0, 1, 15, 16, 0xffff, 0x10000]) {
      const values = Array.from({ length }, (_, i) => `v${i}`);
      const back = await echo(values);
      expect(back.length).toBe(length);
      expect(back.at(-1)?.toString()).toBe(values.at(-1));
    }
  });
});
