/**
 * The wire walk that refuses requests past the decoding bounds
 * (src/grpc/request-bounds.ts), at the length below which it is skipped: a
 * field takes at least one byte and a sub-message two, so a request no longer
 * than min(fields, 2 × messages) bytes cannot pass either bound.
 */
import { describe, expect, it } from 'vitest';
import { loadRotaPackageDefinition } from '../../src/grpc/proto.js';
import { boundPassed, schemaOf, walkedFrom } from '../../src/grpc/request-bounds.js';

const schema = schemaOf(loadRotaPackageDefinition());
const BATCH = 'rota.v1.EnqueueBatchRequest';

/** An EnqueueBatchRequest of `count` empty jobs: two bytes each (field 1, length 0). */
const emptyJobs = (count: number): Buffer => Buffer.from(Array(count).fill([0x0a, 0x00]).flat());

/** A message of `count` one-byte fields: empty groups of an unknown field 9 (start tag 0x4b, end tag 0x4c). */
const oneByteFields = (count: number): Buffer =>
  Buffer.from(
    Array(count / 2)
      .fill([0x4b, 0x4c])
      .flat(),
  );

describe('request bounds', () => {
  it('skips the walk only where no request can pass a bound', () => {
    const bounds = { messages: 10, fields: 1000 };
    expect(walkedFrom(bounds)).toBe(20);
    expect(boundPassed(emptyJobs(10), BATCH, schema, bounds)).toBeUndefined();
    expect(boundPassed(emptyJobs(11), BATCH, schema, bounds)).toBe('messages');

    const tight = { messages: 1000, fields: 10 };
    expect(walkedFrom(tight)).toBe(10);
    expect(boundPassed(oneByteFields(10), BATCH, schema, tight)).toBeUndefined();
    expect(boundPassed(oneByteFields(12), BATCH, schema, tight)).toBe('fields');
  });

  it('walks a request past that length', () => {
    const bounds = { messages: 100_000, fields: 1_000_000 };
    expect(walkedFrom(bounds)).toBe(200_000);
    expect(boundPassed(emptyJobs(100_000), BATCH, schema, bounds)).toBeUndefined();
    expect(boundPassed(emptyJobs(100_001), BATCH, schema, bounds)).toBe('messages');
  });
});
