/**
 * Random producer-side requests, as raw protobuf bytes (see wire.ts): Enqueue,
 * EnqueueBatch, GetJob, CancelJob, and the Admin calls SetTenant, GetTenant,
 * ListTenants, GetStats, ListJobs, ListDeadLetters, ReplayDeadLetters,
 * DeleteDeadLetters and PurgeQueue (on the fuzz's own tenants and queues),
 * plus bytes that are no valid protobuf at all.
 * Each comes with a short description for failure messages.
 */
import type { Rng } from './prng.js';
import { Wire } from './wire.js';

/** Tenants and queues the fuzzers use; valid names, so some requests succeed. */
export const FUZZ_TENANTS = ['fz-a', 'fz-b', 'fz.c', 'fz_d'];
export const FUZZ_QUEUES = ['fz-q0', 'fz-q1'];

export interface FuzzRequest {
  readonly method:
    | 'Enqueue'
    | 'EnqueueBatch'
    | 'GetJob'
    | 'CancelJob'
    | 'SetTenant'
    | 'GetTenant'
    | 'ListTenants'
    | 'GetStats'
    | 'ListJobs'
    | 'ListDeadLetters'
    | 'ReplayDeadLetters'
    | 'DeleteDeadLetters'
    | 'PurgeQueue';
  readonly bytes: Buffer;
  readonly describe: string;
  /** Not a valid message: the broker must answer INVALID_ARGUMENT "does not decode". */
  readonly garbage: boolean;
}

const U32_EDGES = [0, 1, 3, 9, 10, 1000, 1001, 0x7fffffff, 0x80000000, 0xffffffff];
const I32_EDGES = [-1, -2147483648, 2147483647, 0, 9, 10, -9];
const U64_EDGES: Array<bigint | number> = [
  0,
  1,
  31_536_000_000, // 365 days
  31_536_000_001,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  2n ** 64n - 1n,
];

const DOUBLES = [
  NaN, Infinity, -Infinity, -1, -0, 0, 1e-300, 5e-324, 0.001, 0.5, 1, 2, 3.5, 100, 1e6, 1e308,
]; // prettier-ignore

export function name(rng: Rng, pool: readonly string[]): string {
  return rng.bool(0.75) ? rng.pick(pool) : rng.string();
}

/**
 * Set while building a request that protobufjs cannot decode although the
 * protobuf spec says a parser should: a 6–9 byte varint in a 32-bit field
 * (protobufjs's uint32 reader skips 5 bytes blindly after the fifth). grpc-js
 * then the broker answers INVALID_ARGUMENT "does not decode", as for garbage.
 */
let undecodable = false;

function u32(rng: Rng): bigint | number {
  return rng.weighted<() => bigint | number>([
    [3, () => rng.pick(U32_EDGES)],
    [3, () => rng.int(0, 2000)],
    [
      0.3,
      () => {
        undecodable = true;
        return BigInt(rng.int(1, 0xffffffff)) << 8n; // wider than 32 bits, < 10 bytes on the wire
      },
    ],
    [1, () => -rng.int(1, 1000)], // a negative value in a uint32 field: a 10-byte varint
    [1, () => 2n ** 64n - BigInt(rng.int(1, 2 ** 31))], // 10 bytes, truncated to its low 32 bits
  ])();
}

function stringBytes(rng: Rng): Buffer | string {
  return rng.bool(0.1) ? rng.bytes(rng.int(1, 40)) : rng.string(); // invalid UTF-8 sometimes
}

function payload(rng: Rng): Buffer {
  return rng.weighted<() => Buffer>([
    [5, () => rng.bytes(rng.int(0, 64))],
    [2, () => Buffer.from(JSON.stringify({ n: rng.int(0, 1e6), s: rng.string().slice(0, 200) }))],
    [1, () => rng.bytes(rng.int(1000, 100_000))],
    [0.3, () => Buffer.alloc(1024 * 1024 + rng.int(-2, 2), 7)], // around the 1 MiB limit
    [0.05, () => Buffer.alloc(rng.int(2, 4) * 1024 * 1024, 1)],
  ])();
}

function headers(rng: Rng, w: Wire): void {
  const count = rng.weighted<number>([
    [6, 0],
    [4, rng.int(1, 5)],
    [1, rng.int(60, 70)],
    [0.3, rng.int(1000, 5000)],
  ]);
  for (let i = 0; i < count; i++) {
    const entry = new Wire();
    const shape = rng.int(0, 9);
    if (shape !== 0) entry.bytes(1, headerName(rng, i));
    if (shape !== 1) entry.bytes(2, headerValue(rng));
    if (shape === 2) entry.uint(3, 7); // unknown field inside the entry
    w.message(10, entry);
  }
}

/**
 * A header name: mostly free-form, sometimes one the protocol defines (its
 * own size limit, 512 bytes, outside the 8 KiB of the others), in any case.
 */
function headerName(rng: Rng, i: number): Buffer | string {
  return rng.weighted<() => Buffer | string>([
    [8, () => `h${i}-${rng.ascii(rng.int(0, 10))}`],
    [
      1,
      () => rng.pick(['traceparent', 'tracestate', 'content-type', 'Content-Type', 'TRACEPARENT']),
    ],
    [2, () => stringBytes(rng)],
  ])();
}

/** A header value; around the 512-byte limit of the protocol's own headers now and then. */
function headerValue(rng: Rng): string {
  return rng.weighted<() => string>([
    [16, () => rng.ascii(rng.int(0, 40))],
    [2, () => 'v'.repeat(rng.int(500, 520))],
    [1, () => 'v'.repeat(rng.int(1000, 20_000))],
  ])();
}

/** One EnqueueRequest, fields in random order, some missing, some repeated. */
export function enqueueRequest(rng: Rng, valid = false): Wire {
  const w = new Wire();
  const fields: Array<() => void> = [
    () => w.bytes(1, valid ? rng.pick(FUZZ_TENANTS) : name(rng, FUZZ_TENANTS)),
    () => w.bytes(2, valid ? rng.pick(FUZZ_QUEUES) : name(rng, FUZZ_QUEUES)),
    () => w.bytes(3, valid ? rng.bytes(rng.int(0, 32)) : payload(rng)),
    () => w.uint(4, valid ? rng.int(0, 9) : rng.bool(0.5) ? rng.pick(I32_EDGES) : rng.int(-50, 50)),
    () => w.uint(5, valid ? rng.int(0, 5) : u32(rng)),
    () => {
      const backoff = new Wire();
      if (rng.bool(0.8)) backoff.uint(1, valid ? rng.int(1, 100) : u32(rng));
      if (rng.bool(0.8)) backoff.uint(2, valid ? rng.int(100, 1000) : u32(rng));
      w.message(6, backoff);
    },
    () => w.uint(7, valid ? rng.int(0, 60_000) : u32(rng)),
    () => w.uint(8, valid ? rng.int(0, 1) * rng.int(0, 3_600_000) : rng.pick(U64_EDGES)),
    () => w.bytes(9, valid || rng.bool(0.5) ? idempotencyKey(rng) : stringBytes(rng)),
    () => (valid ? undefined : headers(rng, w)),
  ];
  for (const index of shuffle(
    rng,
    fields.map((_, i) => i),
  )) {
    if (valid || rng.bool(0.85)) fields[index]!();
    if (!valid && rng.bool(0.05)) fields[index]!(); // the same field twice: last one wins
  }
  if (!valid && rng.bool(0.05)) w.uint(rng.int(11, 5000), rng.int(0, 1e6)); // unknown field
  return w;
}

/**
 * A valid idempotency key: one of a few, so jobs repeat, or one of its own, so
 * the refusal of its job for the token can be told apart (ledger.ts).
 */
function idempotencyKey(rng: Rng): string {
  return rng.bool(0.5) ? `k-${rng.int(0, 50)}` : `u-${rng.int(0, 2 ** 30)}`;
}

/** Bytes that are not a valid protobuf message (or barely are). */
export function garbage(rng: Rng): Buffer {
  return rng.weighted<() => Buffer>([
    [3, () => rng.bytes(rng.int(0, 2000))],
    [1, () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x61])], // length far past the end
    [1, () => Buffer.from([0x08, 0xff, 0xff, 0xff])], // truncated varint
    [1, () => Buffer.from([0x08, ...Array<number>(11).fill(0xff), 0x01])], // varint > 10 bytes
    [1, () => Buffer.from([0x0f, 0x01])], // wire type 7
    [1, () => Buffer.from([0x0e, 0x01])], // wire type 6
    [1, () => Buffer.alloc(rng.int(1, 5000), 0x0b)], // start-group tags, never closed
    [1, () => Buffer.concat([Buffer.alloc(20_000, 0x0b), Buffer.alloc(20_000, 0x0c)])], // deep groups
    [1, () => new Wire().tag(rng.int(1, 10), 5).raw(rng.bytes(2)).finish()], // fixed32 cut short
    [1, () => new Wire().bytes(6, rng.bytes(rng.int(1, 50))).finish()], // backoff message of noise
    [1, () => new Wire().bytes(10, rng.bytes(rng.int(1, 50))).finish()], // map entry of noise
    [1, () => new Wire().uint(1, 5).finish()], // string field sent as varint
    [
      1,
      () =>
        new Wire()
          .tag(0, 0)
          .raw(Buffer.from([1]))
          .finish(),
    ], // field number 0
    [
      1,
      () =>
        new Wire()
          .tag(2 ** 29 + 5, 0)
          .raw(Buffer.from([1]))
          .finish(),
    ], // field number too big
  ])();
}

/** A random request for one of the producer RPCs. `jobIds` are ids seen so far (for Get/Cancel). */
export function producerRequest(
  rng: Rng,
  jobIds: ReadonlyArray<readonly [string, string]>,
): FuzzRequest {
  const method = rng.weighted<FuzzRequest['method']>([
    [10, 'Enqueue'],
    [2, 'EnqueueBatch'],
    [2, 'GetJob'],
    [2, 'CancelJob'],
    [1, 'SetTenant'],
    [0.3, 'GetTenant'],
    [0.1, 'ListTenants'],
    [0.3, 'GetStats'],
    [0.5, 'ListJobs'],
    [0.3, 'ListDeadLetters'],
    [0.3, 'ReplayDeadLetters'],
    [0.3, 'DeleteDeadLetters'],
    [0.2, 'PurgeQueue'],
  ]);
  if (rng.bool(0.08)) {
    return { method, bytes: garbage(rng), describe: `${method}(garbage)`, garbage: true };
  }
  const { value: request, undecodable } = tracked(() => build(rng, method, jobIds));
  return undecodable
    ? { ...request, describe: `${request.describe} with a 6-9 byte varint`, garbage: true }
    : request;
}

/** What `make` built, and whether protobufjs will refuse to decode it (see `undecodable`). */
export function tracked<T>(make: () => T): { value: T; undecodable: boolean } {
  undecodable = false;
  const value = make();
  return { value, undecodable };
}

function build(
  rng: Rng,
  method: FuzzRequest['method'],
  jobIds: ReadonlyArray<readonly [string, string]>,
): FuzzRequest {
  switch (method) {
    case 'Enqueue': {
      const valid = rng.bool(0.25);
      return {
        method,
        bytes: enqueueRequest(rng, valid).finish(),
        describe: `Enqueue(${valid ? 'valid' : 'random'})`,
        garbage: false,
      };
    }
    case 'EnqueueBatch': {
      const count = rng.weighted<number>([
        [10, rng.int(0, 20)],
        [1, rng.int(990, 1010)],
        [0.1, rng.int(100_001, 150_000)], // past the messages a request may hold
      ]);
      const w = new Wire();
      for (let i = 0; i < count; i++) {
        // Refused undecoded: empty jobs (two bytes each) are as good and cheap to make.
        if (count > 100_000) w.message(1, new Wire());
        else w.message(1, enqueueRequest(rng, count > 100 || rng.bool(0.5)));
      }
      return {
        method,
        bytes: w.finish(),
        describe: `EnqueueBatch(${count} items)`,
        garbage: false,
      };
    }
    case 'SetTenant': {
      const tenant = new Wire().bytes(1, name(rng, FUZZ_TENANTS));
      const number = (): Buffer => {
        const out = Buffer.alloc(8);
        out.writeDoubleLE(rng.pick(DOUBLES));
        return out;
      };
      if (rng.bool(0.7)) tenant.fixed64(2, number());
      if (rng.bool(0.5)) tenant.fixed64(3, number());
      if (rng.bool(0.3)) tenant.uint(4, u32(rng));
      if (rng.bool(0.3)) tenant.uint(5, u32(rng));
      if (rng.bool(0.2)) tenant.uint(6, rng.pick(U64_EDGES));
      for (
        let i = rng.weighted<number>([
          [5, 0],
          [2, rng.int(1, 3)],
          [0.2, 300],
        ]);
        i > 0;
        i--
      ) {
        const queue = new Wire().bytes(1, name(rng, FUZZ_QUEUES));
        if (rng.bool(0.6)) queue.fixed64(2, number());
        if (rng.bool(0.4)) queue.fixed64(3, number());
        if (rng.bool(0.3)) queue.uint(4, u32(rng));
        if (rng.bool(0.3)) queue.uint(5, u32(rng));
        tenant.message(7, queue);
      }
      return {
        method,
        bytes: new Wire().message(1, tenant).finish(),
        describe: 'SetTenant',
        garbage: false,
      };
    }
    case 'ListJobs':
    case 'ListDeadLetters': {
      const w = tenantQueue(rng);
      const listJobs = method === 'ListJobs';
      // JobState: WAITING 1 and DELAYED 3 are listed; the others, and unknown values, are refused
      if (listJobs && rng.bool(0.9)) w.uint(3, rng.bool(0.7) ? rng.int(0, 8) : u32(rng));
      if (rng.bool(0.5)) w.uint(listJobs ? 4 : 3, u32(rng));
      if (rng.bool(0.5)) w.bytes(listJobs ? 5 : 4, pageToken(rng));
      return { method, bytes: w.finish(), describe: method, garbage: false };
    }
    case 'ReplayDeadLetters':
    case 'DeleteDeadLetters': {
      const w = tenantQueue(rng);
      const ids = rng.weighted<number>([
        [5, rng.int(0, 3)],
        [0.3, 1200],
      ]);
      for (let i = 0; i < ids; i++)
        w.bytes(3, rng.bool(0.5) ? rng.ascii(rng.int(1, 40)) : rng.string());
      if (rng.bool(0.6)) w.uint(4, rng.bool(0.8) ? 1 : u32(rng));
      return { method, bytes: w.finish(), describe: `${method}(${ids} ids)`, garbage: false };
    }
    case 'PurgeQueue':
      return { method, bytes: tenantQueue(rng).finish(), describe: method, garbage: false };
    case 'GetTenant':
      return {
        method,
        bytes: new Wire().bytes(1, name(rng, FUZZ_TENANTS)).finish(),
        describe: method,
        garbage: false,
      };
    case 'ListTenants': {
      // No fields; an unknown one must be skipped.
      const w = new Wire();
      if (rng.bool(0.3)) w.uint(rng.int(1, 100), rng.int(0, 1000));
      return { method, bytes: w.finish(), describe: method, garbage: false };
    }
    case 'GetStats': {
      // Either filter may be empty (= all), a name, or anything.
      const w = new Wire();
      if (rng.bool(0.6)) w.bytes(1, name(rng, FUZZ_QUEUES));
      if (rng.bool(0.6)) w.bytes(2, name(rng, FUZZ_TENANTS));
      return { method, bytes: w.finish(), describe: method, garbage: false };
    }
    default: {
      // A fixed number of draws, so the requests after this one do not depend on `jobIds`.
      const useKnown = rng.bool(0.5);
      const knownPick = rng.next();
      const knownTenant = rng.bool(0.7);
      const randomTenant = name(rng, FUZZ_TENANTS);
      const randomId = rng.bool(0.5)
        ? rng.ascii(rng.int(1, 30)).replace(/[^A-Za-z0-9_-]/g, 'a')
        : rng.string();
      const known =
        useKnown && jobIds.length > 0 ? jobIds[Math.floor(knownPick * jobIds.length)] : undefined;
      const tenant = known && knownTenant ? known[0] : randomTenant;
      const jobId = known ? known[1] : randomId;
      const w = new Wire().bytes(1, tenant).bytes(2, jobId);
      return {
        method,
        bytes: w.finish(),
        describe: `${method}(known=${known !== undefined})`,
        garbage: false,
      };
    }
  }
}

/** Fields 1 and 2 of every Admin request about a tenant×queue. */
function tenantQueue(rng: Rng): Wire {
  return new Wire().bytes(1, name(rng, FUZZ_TENANTS)).bytes(2, name(rng, FUZZ_QUEUES));
}

/** Page tokens of each kind the listings hand out, and others. */
function pageToken(rng: Rng): string {
  return rng.weighted<() => string>([
    [2, () => `${rng.int(0, 12)}:${rng.int(0, 2 ** 31)}-${rng.int(0, 9)}`],
    [2, () => String(rng.int(0, 2 ** 31))],
    [1, () => '99999999999999999999'],
    [2, () => rng.string()],
  ])();
}

export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
