import type { ScriptArg } from './scripts.js';

/**
 * MessagePack as Redis's Lua `cmsgpack` speaks it, for the hot scripts'
 * arguments and replies.
 */

/**
 * Packs a script's arguments into one MessagePack array of byte strings, which
 * the script opens with `cmsgpack.unpack(ARGV[1])`: what it reads is the same
 * strings ARGV would hold (numbers in decimal, Buffers byte for byte).
 *
 * Why: a packed call carries a few thousand arguments, and ioredis spent about
 * 9 µs of broker CPU per job turning them into RESP one by one (Redis about
 * 2 µs parsing them); as one blob it is about 2 µs and 0.3 µs (200
 * enqueue-shaped jobs per call; bench/store-cycle.ts measures the whole
 * store). Written here rather than with msgpackr because Redis's cmsgpack
 * predates the `bin` types and refuses them: every value goes out as an
 * old-style raw string (fixraw, raw16, raw32). A hand-written ASCII byte loop
 * looked twice as fast as Buffer#write on repeated data but was 40% slower on
 * the store's fresh strings (150 against 210 ns per value), so Buffer#write it is.
 */
export function packArgs(values: readonly ScriptArg[]): Buffer {
  let size = 5;
  for (const value of values) {
    // an upper bound: a string takes at most 3 bytes per UTF-16 unit
    size +=
      5 +
      (typeof value === 'string'
        ? value.length * 3
        : typeof value === 'number'
          ? 24
          : value.length);
  }
  const out = Buffer.allocUnsafe(size);
  let at = writeHeader(out, 0, values.length, 0x90, 16, 0xdc);
  for (const value of values) {
    if (Buffer.isBuffer(value)) {
      at = writeHeader(out, at, value.length, 0xa0, 32, 0xda);
      at += value.copy(out, at);
      continue;
    }
    const text = typeof value === 'number' ? String(value) : value;
    // reserve the smallest header that fits the worst case, then write the real length
    const headerSize = text.length * 3 < 32 ? 1 : text.length * 3 < 0x10000 ? 3 : 5;
    const written = out.write(text, at + headerSize, 'utf8');
    writeRawHeader(out, at, written, headerSize);
    at += headerSize + written;
  }
  return out.subarray(0, at);
}

/** A fix-size header (`fixTag | length`) when length < fixLimit, else the 16- or 32-bit form. */
function writeHeader(
  out: Buffer,
  at: number,
  length: number,
  fixTag: number,
  fixLimit: number,
  tag16: number,
): number {
  if (length < fixLimit) {
    out[at] = fixTag | length;
    return at + 1;
  }
  if (length < 0x10000) {
    out[at] = tag16;
    out.writeUInt16BE(length, at + 1);
    return at + 3;
  }
  out[at] = tag16 + 1;
  out.writeUInt32BE(length, at + 1);
  return at + 5;
}

function writeRawHeader(out: Buffer, at: number, length: number, headerSize: number): void {
  if (headerSize === 1) out[at] = 0xa0 | length;
  else if (headerSize === 3) {
    out[at] = 0xda;
    out.writeUInt16BE(length, at + 1);
  } else {
    out[at] = 0xdb;
    out.writeUInt32BE(length, at + 1);
  }
}

/**
 * Reads a script's reply written by `cmsgpack.pack(list)`: a flat array of
 * numbers and strings (as Buffers that share the reply's memory, so a
 * binary payload comes back byte for byte). Why: a fetch answers 10 values per
 * job, and ioredis decoding each bulk string into its own Buffer was the
 * largest part of its cost in the broker.
 */
export function unpackReply(reply: Buffer): Array<number | Buffer> {
  const reader = new ReplyReader(reply);
  const length = reader.arrayLength();
  const values = new Array<number | Buffer>(length);
  for (let i = 0; i < length; i++) values[i] = reader.scalar();
  return values;
}

/** '0'…'9' and '-' in a byte string. */
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const MINUS = 0x2d;

/**
 * Reads a script's reply value by value, each as the type the caller knows it
 * to be: `text()` a string, `number()` a number (from a MessagePack integer or
 * a string of digits, as Lua hands on what HMGET read), `bytes()` a copy. Why
 * not unpackReply: a fetch answers 10 values per job, and a Buffer view of
 * each, then a string or a number made of the view, cost about 2.5 µs of
 * broker CPU per job read (CPU profile of the scale phase, 2026-12-07); read
 * straight from the reply's bytes, about a third of that.
 */
export class ReplyReader {
  private at = 0;
  /** Where the bytes of the last string value read (by next) start and end. */
  private start = 0;
  private end = 0;

  constructor(private readonly reply: Buffer) {}

  /** A reader of a reply that is a list, with its length read: `remaining` values follow. */
  static ofList(reply: Buffer): ReplyReader {
    const reader = new ReplyReader(reply);
    reader.remaining = reader.arrayLength();
    return reader;
  }

  /** Values left in the list (see ofList): counted down as they are read. */
  remaining = 0;

  /** A string value as text (UTF-8); a number as its decimal form. */
  text(): string {
    const number = this.next();
    return number === undefined
      ? this.reply.toString('utf8', this.start, this.end)
      : String(number);
  }

  /** A number, or a string of one (as Number() reads it: '' is 0). */
  number(): number {
    const number = this.next();
    if (number !== undefined) return number;
    const { reply, end } = this;
    let { start } = this;
    const negative = reply[start] === MINUS;
    if (negative) start += 1;
    // 15 digits at most: exact in a double (a time in ms has 13)
    if (end - start > 15 || (negative && start === end)) return this.parsed();
    let n = 0;
    for (let i = start; i < end; i++) {
      const byte = reply[i]!;
      if (byte < DIGIT_0 || byte > DIGIT_9) return this.parsed();
      n = n * 10 + (byte - DIGIT_0);
    }
    return negative ? -n : n;
  }

  /** A string value's bytes, copied (a view would keep the whole reply alive). */
  bytes(): Buffer {
    const number = this.next();
    if (number !== undefined) return Buffer.from(String(number));
    const copy = Buffer.allocUnsafe(this.end - this.start);
    this.reply.copy(copy, 0, this.start, this.end);
    return copy;
  }

  /** The last string value read, as Number() reads it. */
  private parsed(): number {
    return Number(this.reply.toString('latin1', this.start, this.end));
  }

  /**
   * Moves past the next value: a number is returned; a string's bytes are
   * noted (start, end) and undefined returned.
   */
  private next(): number | undefined {
    this.remaining -= 1;
    const { reply, at } = this;
    const tag = reply[at]!;
    let headerSize: number;
    let length: number;
    if (tag >= 0xa0 && tag <= 0xbf) {
      headerSize = 1;
      length = tag & 0x1f;
    } else if (tag === 0xd9) {
      headerSize = 2;
      length = reply[at + 1]!;
    } else if (tag === 0xda) {
      headerSize = 3;
      length = reply.readUInt16BE(at + 1);
    } else if (tag === 0xdb) {
      headerSize = 5;
      length = reply.readUInt32BE(at + 1);
    } else {
      return this.numeric();
    }
    this.start = at + headerSize;
    this.end = this.start + length;
    this.at = this.end;
    return undefined;
  }

  arrayLength(): number {
    const tag = this.reply[0];
    if (tag !== undefined && tag >= 0x90 && tag <= 0x9f) return this.skip(1, tag & 0x0f);
    if (tag === 0xdc) return this.skip(3, this.reply.readUInt16BE(1));
    if (tag === 0xdd) return this.skip(5, this.reply.readUInt32BE(1));
    throw new Error(`script reply is not a MessagePack array (first byte ${tag})`);
  }

  /** The next value: a number, or a string's bytes as a view into the reply. */
  scalar(): number | Buffer {
    const number = this.next();
    return number === undefined ? this.reply.subarray(this.start, this.end) : number;
  }

  /** The next value, which is not a string: a MessagePack integer or float. */
  private numeric(): number {
    const { reply, at } = this;
    const tag = reply[at]!;
    if (tag <= 0x7f) return this.skip(1, tag);
    if (tag >= 0xe0) return this.skip(1, tag - 0x100);
    switch (tag) {
      case 0xcc:
        return this.skip(2, reply[at + 1]!);
      case 0xcd:
        return this.skip(3, reply.readUInt16BE(at + 1));
      case 0xce:
        return this.skip(5, reply.readUInt32BE(at + 1));
      case 0xcf:
        return this.skip(9, Number(reply.readBigUInt64BE(at + 1)));
      case 0xd0:
        return this.skip(2, reply.readInt8(at + 1));
      case 0xd1:
        return this.skip(3, reply.readInt16BE(at + 1));
      case 0xd2:
        return this.skip(5, reply.readInt32BE(at + 1));
      case 0xd3:
        return this.skip(9, Number(reply.readBigInt64BE(at + 1)));
      case 0xca:
        return this.skip(5, reply.readFloatBE(at + 1));
      case 0xcb:
        return this.skip(9, reply.readDoubleBE(at + 1));
      default:
        throw new Error(`unexpected MessagePack type 0x${tag.toString(16)} in a script reply`);
    }
  }

  /** Moves past a value of `size` bytes and returns what was read of it. */
  private skip<T>(size: number, value: T): T {
    this.at += size;
    return value;
  }
}
