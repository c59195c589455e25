/**
 * A protobuf wire-format writer that will write anything: negative and
 * oversized varints, wrong wire types, truncated or overlong lengths, invalid
 * UTF-8, groups. The fuzzers build requests with it and send the bytes as they
 * are (a grpc-js client with an identity serializer), so the broker's decoder
 * sees exactly what we made, not what protobufjs would agree to encode.
 */
export class Wire {
  readonly #parts: Buffer[] = [];

  static varint(value: bigint | number): Buffer {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      out.push(byte);
    } while (v > 0n);
    return Buffer.from(out);
  }

  tag(field: number, wireType: number): this {
    return this.raw(Wire.varint((BigInt(field) << 3n) | BigInt(wireType & 7)));
  }

  /** Field of wire type 0. */
  uint(field: number, value: bigint | number): this {
    return this.tag(field, 0).raw(Wire.varint(value));
  }

  /** Field of wire type 2 (string, bytes, message). */
  bytes(field: number, value: Buffer | string): this {
    const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.tag(field, 2).raw(Wire.varint(data.length)).raw(data);
  }

  message(field: number, inner: Wire): this {
    return this.bytes(field, inner.finish());
  }

  fixed64(field: number, value: Buffer): this {
    return this.tag(field, 1).raw(value.subarray(0, 8));
  }

  raw(data: Buffer): this {
    this.#parts.push(data);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }
}
