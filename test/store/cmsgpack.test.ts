import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packArgs, ReplyReader, unpackReply } from '../../src/store/cmsgpack.js';
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

  it('reads what cmsgpack.pack writes: numbers of every width and sign, strings byte for byte', async () => {
    const packed = (await redis.callBuffer(
      'EVAL',
      `return cmsgpack.pack({0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 1733130000123,
        -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 0.5, -2.25,
        ARGV[1], ARGV[2], ARGV[3], ARGV[4], ''})`,
      0,
      Buffer.from([0, 0xc4, 0xff]),
      'x'.repeat(40),
      'y'.repeat(300),
      'z'.repeat(70_000),
    )) as Buffer;
    expect(unpackReply(packed)).toEqual([
      0,
      127,
      128,
      255,
      256,
      65535,
      65536,
      4294967295,
      4294967296,
      1733130000123,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -2147483648,
      -2147483649,
      0.5,
      -2.25,
      Buffer.from([0, 0xc4, 0xff]),
      Buffer.from('x'.repeat(40)),
      Buffer.from('y'.repeat(300)),
      Buffer.from('z'.repeat(70_000)),
      Buffer.alloc(0),
    ]);
    const long = (await redis.callBuffer(
      'EVAL',
      'local t = {} for i = 1, 70000 do t[i] = i end return cmsgpack.pack(t)',
      0,
    )) as Buffer;
    const values = unpackReply(long);
    expect(values.length).toBe(70_000);
    expect(values[69_999]).toBe(70_000);
  });

  it('reads values one by one as the types asked for, as Number() and toString() read them', async () => {
    const numbers = [
      '',
      '0',
      '7',
      '-1',
      '1733130000123',
      '9007199254740993',
      '1.5',
      '1e3',
      '-',
      'x1',
    ];
    const packed = (await redis.callBuffer(
      'EVAL',
      `local out = {ARGV[1], ARGV[2], 42, -2, 1733130000123}
      for i = 3, #ARGV do out[#out + 1] = ARGV[i] end
      return cmsgpack.pack(out)`,
      0,
      'jöb-🙂',
      Buffer.from([0, 0xc4, 0xff]),
      ...numbers,
    )) as Buffer;
    const values = ReplyReader.ofList(packed);
    expect(values.remaining).toBe(5 + numbers.length);
    expect(values.text()).toBe('jöb-🙂');
    const bytes = values.bytes();
    expect(bytes).toEqual(Buffer.from([0, 0xc4, 0xff]));
    expect(bytes.buffer).not.toBe(packed.buffer); // a copy, not a view of the reply
    expect(values.text()).toBe('42'); // a number asked for as text
    expect(values.number()).toBe(-2);
    expect(values.bytes()).toEqual(Buffer.from('1733130000123'));
    for (const text of numbers) expect(values.number()).toBe(Number(text));
    expect(values.remaining).toBe(0);
  });

  it('refuses a reply that is not a list', () => {
    expect(() => unpackReply(Buffer.from([0x81, 0xa1, 0x61, 0x01]))).toThrow(
      /not a MessagePack array/,
    );
    expect(() => unpackReply(Buffer.from([0x91, 0x81]))).toThrow(
      /unexpected MessagePack type 0x81/,
    );
  });
});
