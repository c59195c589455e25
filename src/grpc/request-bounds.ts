/**
 * Bounds on what one request makes the broker decode. protobufjs turns each
 * sub-message into an object with every field defaulted, about 2 µs and 400
 * bytes, whatever its size on the wire: two bytes make an empty job, ack or
 * header entry. A 16 MiB EnqueueBatch of empty jobs thus held the event loop
 * for some 17 s and took gigabytes of heap before any check on the decoded
 * request could refuse it; a field repeated millions of times (each repeat
 * replaces the last) cost seconds as well. So the wire bytes are walked first,
 * tags and lengths only, the way protobufjs will read them, and a request
 * over either bound is refused undecoded.
 */
import type { PackageDefinition } from '@grpc/proto-loader';

export interface RequestBounds {
  /** Sub-messages (jobs, header entries, leases, acks…) in one request. */
  readonly messages: number;
  /** Fields, sub-messages' own included. */
  readonly fields: number;
}

/** Sub-messages every broker takes in one request, whatever its limits. */
export const MIN_REQUEST_MESSAGES = 100_000;

/**
 * Room for the largest request a client sends on purpose: a full batch, each
 * job with its backoff and 64 header entries (66 messages, some 200 fields),
 * or a Hello re-attaching, or an Acks settling, a whole session's capacity.
 */
export function requestBounds(limits: {
  readonly maxBatchSize: number;
  readonly maxSessionCapacity: number;
}): RequestBounds {
  const { maxBatchSize, maxSessionCapacity } = limits;
  return {
    messages: Math.max(MIN_REQUEST_MESSAGES, 70 * maxBatchSize, 2 * maxSessionCapacity),
    fields: Math.max(1_000_000, 250 * maxBatchSize, 10 * maxSessionCapacity),
  };
}

type FieldKind =
  | { readonly wire: 'varint32' | 'varint64' | 'fixed32' | 'fixed64' | 'string' | 'bytes' }
  | { readonly wire: 'message'; readonly type: string };

/** Each message type's fields by number, by type name (`rota.v1.Hello`). */
export type Schema = ReadonlyMap<string, ReadonlyMap<number, FieldKind>>;

interface TypeDescriptor {
  readonly name: string;
  readonly field?: ReadonlyArray<{ number: number; type: string; typeName: string }>;
  readonly nestedType?: readonly TypeDescriptor[];
}

/** The rota.v1 message types of a package definition, as the walk needs them. */
export function schemaOf(definition: PackageDefinition): Schema {
  const schema = new Map<string, Map<number, FieldKind>>();
  const add = (name: string, type: TypeDescriptor): void => {
    // A nested type (a map entry's) is named relative to its parent.
    const nested = new Set((type.nestedType ?? []).map((t) => t.name));
    for (const inner of type.nestedType ?? []) add(`${name}.${inner.name}`, inner);
    const fields = new Map<number, FieldKind>();
    for (const field of type.field ?? []) {
      fields.set(
        field.number,
        field.type === 'TYPE_MESSAGE'
          ? {
              wire: 'message',
              type: nested.has(field.typeName)
                ? `${name}.${field.typeName}`
                : `rota.v1.${field.typeName}`,
            }
          : { wire: WIRE_OF[field.type] ?? 'varint32' },
      );
    }
    schema.set(name, fields);
  };
  for (const [name, entry] of Object.entries(definition)) {
    const type = (entry as { type?: TypeDescriptor }).type;
    if (name.startsWith('rota.v1.') && type?.field !== undefined) add(name, type);
  }
  return schema;
}

type ScalarWire = Exclude<FieldKind['wire'], 'message'>;

/** How protobufjs reads each scalar type (the rest, 32-bit varints). */
const WIRE_OF: Readonly<Record<string, ScalarWire>> = {
  TYPE_STRING: 'string',
  TYPE_BYTES: 'bytes',
  TYPE_UINT64: 'varint64',
  TYPE_INT64: 'varint64',
  TYPE_SINT64: 'varint64',
  TYPE_DOUBLE: 'fixed64',
  TYPE_FIXED64: 'fixed64',
  TYPE_SFIXED64: 'fixed64',
  TYPE_FLOAT: 'fixed32',
  TYPE_FIXED32: 'fixed32',
  TYPE_SFIXED32: 'fixed32',
};

/** The walk met bytes protobufjs refuses: decoding stops there as well. */
const MALFORMED = new Error('malformed protobuf');

/** protobufjs's Reader.recursionLimit: deeper groups are refused. */
const MAX_GROUP_DEPTH = 100;

/**
 * The shortest request the walk reads. A field takes a byte at least (its
 * tag: an empty group's end tag is one) and a sub-message two (its tag and
 * length), so no shorter request can pass either bound: with the default
 * bounds, 200,000 bytes. The walk costs about 40% of decoding (0.35 µs a job
 * of a 1,000-job batch of 129 KB, against 0.9 µs), and nearly every request
 * is shorter.
 */
export function walkedFrom(bounds: RequestBounds): number {
  return Math.min(bounds.fields, 2 * bounds.messages);
}

/**
 * Which bound `bytes`, a message of `type`, passes ('messages' or 'fields'),
 * or undefined. Malformed bytes are left to the decoder, which refuses them
 * where the walk stopped (what came before counted).
 */
export function boundPassed(
  bytes: Buffer,
  type: string,
  schema: Schema,
  bounds: RequestBounds,
): keyof RequestBounds | undefined {
  if (bytes.length <= walkedFrom(bounds)) return undefined;
  const walk = new Walk(bytes, schema, bounds);
  try {
    walk.message(schema.get(type));
  } catch (error) {
    if (error !== MALFORMED) throw error;
  }
  return walk.passed;
}

/**
 * Reads as protobufjs 7's BufferReader and generated decoders do, bounds
 * checks and leniencies alike (decoders read a known field by its type
 * whatever its wire type; a string past its message's end is cut there; a
 * 32-bit varint longer than 5 bytes has 5 more skipped unread), so what it
 * counts is what decoding would build. Valid messages read the same in any
 * protobuf reader; a divergence could only let a malformed one through
 * uncounted past the point where they part.
 */
class Walk {
  pos = 0;
  /** The end of the message being read (Reader.len). */
  len: number;
  messages = 0;
  fields = 0;
  passed: keyof RequestBounds | undefined;

  constructor(
    private readonly buf: Buffer,
    private readonly schema: Schema,
    private readonly bounds: RequestBounds,
  ) {
    this.len = buf.length;
  }

  /** Type.decode: the top-level message, or one of `length` bytes here, `depth` deep. */
  message(fields: ReadonlyMap<number, FieldKind> | undefined, length?: number, depth = 0): void {
    const outer = this.len;
    const end = length === undefined ? this.len : this.pos + length;
    if (end > this.len) throw MALFORMED;
    this.len = end;
    while (this.pos < end && this.passed === undefined) {
      const tag = this.uint32();
      this.countField();
      const kind = fields?.get(tag >>> 3);
      if (kind === undefined) this.skipType(tag & 7, depth);
      else if (kind.wire === 'message') {
        if (++this.messages > this.bounds.messages) this.passed = 'messages';
        this.message(this.schema.get(kind.type), this.uint32(), depth + 1);
      } else this.value(kind.wire);
    }
    if (this.passed !== undefined) return;
    if (length !== undefined && this.pos !== end) throw MALFORMED;
    this.len = outer;
  }

  private countField(): void {
    if (++this.fields > this.bounds.fields) this.passed = 'fields';
  }

  private value(wire: ScalarWire): void {
    switch (wire) {
      case 'varint32':
        this.uint32();
        return;
      case 'varint64':
        this.varint64();
        return;
      case 'fixed32':
        this.skip(4);
        return;
      case 'fixed64':
        this.skip(8);
        return;
      case 'string': {
        // BufferReader.string: cut at the message's end, never refused.
        const length = this.uint32();
        this.pos = Math.min(this.pos + length, this.len);
        return;
      }
      case 'bytes':
        this.skip(this.uint32());
    }
  }

  /** Reader.skipType: groups skipped field by field (each counts), wire types 4, 6 and 7 refused. */
  private skipType(wireType: number, depth: number): void {
    if (depth > MAX_GROUP_DEPTH) throw MALFORMED;
    switch (wireType) {
      case 0:
        do if (this.pos >= this.len) throw MALFORMED;
        while ((this.buf[this.pos++]! & 0x80) !== 0);
        return;
      case 1:
        this.skip(8);
        return;
      case 2:
        this.skip(this.uint32());
        return;
      case 3:
        for (;;) {
          const inner = this.uint32() & 7;
          this.countField();
          if (inner === 4 || this.passed !== undefined) return;
          this.skipType(inner, depth + 1);
        }
      case 5:
        this.skip(4);
        return;
      default:
        throw MALFORMED;
    }
  }

  /** Reader.uint32. */
  private uint32(): number {
    const { buf } = this;
    if (this.len - this.pos < 5) {
      if (this.pos >= this.len) throw MALFORMED;
      if (buf[this.pos]! >= 0x80) {
        // readVarint32NearEnd: four bytes at most, within the message.
        let value = 0;
        for (let i = 0; i < 4; i++) {
          if (this.pos >= this.len) throw MALFORMED;
          const byte = buf[this.pos++]!;
          value = (value | ((byte & 0x7f) << (7 * i))) >>> 0;
          if (byte < 0x80) return value;
        }
        throw MALFORMED;
      }
    }
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const byte = buf[this.pos++]!;
      value = (value | ((byte & 0x7f) << (7 * i))) >>> 0;
      if (byte < 0x80) return value;
    }
    // Five more bytes skipped unread.
    this.pos += 5;
    if (this.pos > this.len) throw MALFORMED;
    return value;
  }

  /** readLongVarint's reach: ten bytes, or four near the message's end. */
  private varint64(): void {
    const { buf } = this;
    if (this.len - this.pos > 4) {
      for (let i = 0; i < 5; i++) if (buf[this.pos++]! < 0x80) return;
    } else {
      for (let i = 0; i < 3; i++) {
        if (this.pos >= this.len) throw MALFORMED;
        if (buf[this.pos++]! < 0x80) return;
      }
      this.pos++; // the 4th, whatever it holds
      return;
    }
    const fast = this.len - this.pos > 4;
    for (let i = 0; i < 5; i++) {
      if (!fast && this.pos >= this.len) throw MALFORMED;
      if (buf[this.pos++]! < 0x80) return;
    }
    throw MALFORMED;
  }

  private skip(length: number): void {
    if (this.pos + length > this.len) throw MALFORMED;
    this.pos += length;
  }
}
