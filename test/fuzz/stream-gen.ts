/**
 * One random Work stream: a (mostly) Hello, maybe re-attaching leases (other
 * streams', with their real tokens; stale, foreign, repeated; too many), then
 * random WorkerMessages in random order (unknown job ids, wrong tokens, acks
 * of other streams' leases, one lease acked several ways at once and its
 * Progress after, huge capacities, Credit 0, Progress with huge data, media
 * types around their limit, Drain then Hello, empty messages, garbage frames),
 * ended by a half-close, a cancel or silence at a random point. Sent as a
 * token of the table (credentials.ts), or with no valid one; a worker token
 * limited to tenants also tries to settle other tenants' leases with their
 * real lease tokens (scope probes). Sent through a raw bidi call whose
 * serializer passes Buffers through untouched.
 */
import * as grpc from '@grpc/grpc-js';

import type { BrokerMessage__Output } from '../../src/generated/rota/v1/BrokerMessage.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import type { WorkerMessage } from '../../src/generated/rota/v1/WorkerMessage.js';
import { loadRotaPackageDefinition } from '../../src/grpc/proto.js';
import { covers, credential, refusalFor } from './credentials.js';
import { FUZZ_QUEUES, FUZZ_TENANTS, garbage, name } from './enqueue-gen.js';
import type { Rng } from './prng.js';

interface MethodDefinition {
  path: string;
  requestSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

function workMethod(): MethodDefinition {
  const service = loadRotaPackageDefinition()['rota.v1.Broker'] as unknown as Record<
    string,
    MethodDefinition
  >;
  return service.Work!;
}

export interface StreamContext {
  readonly client: grpc.Client;
  /** Queues of the well-behaved pair: fuzz streams may take their leases but never ack them validly. */
  readonly protectedQueues: readonly string[];
  readonly protectedTenants: ReadonlySet<string>;
  /** Job ids seen (for unknown/foreign acks). */
  readonly knownJobIds: ReadonlyArray<readonly [string, string]>;
  /**
   * Leases of the fuzz tenants that streams received, with their real tokens,
   * shared by all streams (each adds its own; the newest SHARED_LEASES kept):
   * re-attached by a later Hello, or acked by a stream other than their own,
   * maybe while that one still holds them or is ending.
   */
  readonly sharedLeases: Lease__Output[];
  readonly leaseTtlMs: number;
}

export interface StreamOutcome {
  readonly describe: string;
  /** The code the stream must end with for its token (or Hello's tenants), if any. */
  readonly refusal: grpc.status | undefined;
  /** Leases of tenants outside the stream's token, or the tenants its Hello named. */
  readonly foreignLeases: readonly string[];
  /** A settlement of a lease outside the token's tenants that was not refused. */
  readonly unrefusedForeignAck: string | undefined;
  /** Such settlements whose refusal was awaited (see unrefusedForeignAck). */
  readonly scopeProbes: number;
  readonly code: grpc.status;
  readonly details: string;
  readonly ended: 'half-close' | 'cancel' | 'silence' | 'server';
  readonly sentGarbage: boolean;
  /** The leases the stream received. */
  readonly leases: readonly Lease__Output[];
  /** A wrong-token ack whose refusal never came while the stream stayed open. */
  readonly unrefusedStaleAck: string | undefined;
  /**
   * The longest time between two messages of the stream leaving this process
   * (from the first to the status): the broker, which counts only whole
   * messages as signs of life, heard nothing from the worker for about as long.
   */
  readonly longestSilenceMs: number;
  readonly ms: number;
}

/**
 * How long a stream may take to get its status once its cancel was made or its
 * half-close has left this process. Not from the half-close's call.end(): that
 * waits behind the stream's unsent messages, and a message of megabytes takes
 * seconds to leave when a dozen streams share the connection's 64 KiB HTTP/2
 * window on a loaded machine (seed 593503382, streams #49 and #163: 2.9 MB of
 * acks left 3 to 3.8 s after call.end(), the status came 0.2 to 0.9 s later;
 * alone, each stream took under 0.7 s in all).
 */
const STATUS_PATIENCE_MS = 3000;
/** Past the lease TTL, for the broker's sweep to notice a silent session. */
const SILENCE_PATIENCE_MS = 3000;

const SHARED_LEASES = 300;

/** Media types for Complete and Progress: none, usual, around the 128-byte limit, anything. */
function contentType(rng: Rng): string {
  return rng.weighted<() => string>([
    [6, () => ''],
    [
      4,
      () => rng.pick(['application/json', 'application/octet-stream', 'text/plain; charset=utf-8']),
    ],
    [1, () => 't/'.padEnd(rng.int(127, 129), 'x')],
    [1, () => rng.string()],
  ])();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function fuzzStream(rng: Rng, ctx: StreamContext): Promise<StreamOutcome> {
  const method = workMethod();
  const started = Date.now();
  const as = credential(rng, 'worker');
  const { caller } = as;
  const call = ctx.client.makeBidiStreamRequest<WorkerMessage | Buffer, BrokerMessage__Output>(
    method.path,
    (value) => (Buffer.isBuffer(value) ? value : method.requestSerialize(value)),
    (bytes) => method.responseDeserialize(bytes) as BrokerMessage__Output,
    as.metadata,
    { deadline: Date.now() + 2 * ctx.leaseTtlMs + 10_000 },
  );
  /** The tenants the session may receive: its token's, and those its Hello named (none = all). */
  let helloTenants: readonly string[] = [];
  const foreignLeases: string[] = [];
  const leases: Lease__Output[] = [];
  const refusedIds = new Set<string>();
  /** Heartbeats written and answered: the broker handles a stream's messages in order. */
  let heartbeatsSent = 0;
  let heartbeatAcks = 0;
  let status: grpc.StatusObject | undefined;
  call.on('data', (message: BrokerMessage__Output) => {
    if (process.env.ROTA_FUZZ_TRACE) log.push(`<${message.msg}@${Date.now() - started}>`);
    if (message.leases) {
      leases.push(...message.leases.leases);
      for (const lease of message.leases.leases) {
        const named = helloTenants.length === 0 || helloTenants.includes(lease.tenant);
        if (caller === undefined || !covers(caller, lease.tenant) || !named) {
          foreignLeases.push(`${lease.tenant}/${lease.job_id} to ${as.label}`);
        }
      }
      const shared = ctx.sharedLeases;
      shared.push(...message.leases.leases.filter((l) => !ctx.protectedTenants.has(l.tenant)));
      if (shared.length > SHARED_LEASES) shared.splice(0, shared.length - SHARED_LEASES);
    }
    for (const outcome of message.ack_result?.outcomes ?? []) refusedIds.add(outcome.job_id);
    if (message.heartbeat_ack) heartbeatAcks++;
  });
  call.on('error', () => undefined);
  // grpc-js calls a write's callback once HTTP/2 took the message, in order, and
  // emits 'finish' once the half-close followed them.
  let lastSentAt: number | undefined;
  let longestSilenceMs = 0;
  const sent = (): void => {
    const now = Date.now();
    if (lastSentAt !== undefined && !status) {
      longestSilenceMs = Math.max(longestSilenceMs, now - lastSentAt);
    }
    lastSentAt = now;
  };
  let halfClosedAt: number | undefined;
  call.on('finish', () => {
    sent();
    halfClosedAt = Date.now();
  });
  const statusReceived = new Promise<grpc.StatusObject>((resolve) =>
    call.on('status', (s: grpc.StatusObject) => {
      // Up to the status, but not past the half-close: on that the broker ends the stream.
      if (lastSentAt !== undefined && halfClosedAt === undefined) {
        longestSilenceMs = Math.max(longestSilenceMs, Date.now() - lastSentAt);
      }
      resolve((status = s));
    }),
  );
  const log: string[] = [];
  let sentGarbage = false;
  let writable = true;
  let unrefusedStaleAck: string | undefined;
  let unrefusedForeignAck: string | undefined;
  let scopeProbes = 0;
  const send = (label: string, message: WorkerMessage | Buffer): void => {
    if (!writable || status) return;
    if (!Buffer.isBuffer(message) && message.heartbeat) heartbeatsSent++;
    if (process.env.ROTA_FUZZ_TRACE) {
      const bytes = Buffer.isBuffer(message)
        ? message.length
        : method.requestSerialize(message).length;
      log.push(`${label}[${bytes}B]`);
    } else {
      log.push(label);
    }
    try {
      const at = Date.now();
      call.write(message, () => {
        sent();
        if (process.env.ROTA_FUZZ_TRACE) {
          log.push(`(${label} flushed +${Date.now() - started}ms, took ${Date.now() - at})`);
        }
      });
    } catch {
      writable = false;
    }
  };

  const queues = (): string[] => {
    const count = rng.weighted<number>([
      [8, 1],
      [3, 2],
      [1, 0],
      [0.5, rng.int(60, 70)],
    ]);
    return Array.from({ length: count }, () =>
      rng.weighted<string>([
        [8, rng.pick(FUZZ_QUEUES)],
        [1, rng.pick(ctx.protectedQueues)],
        [1, name(rng, FUZZ_QUEUES)],
      ]),
    );
  };
  const capacity = (): number =>
    rng.weighted<number>([
      [6, rng.int(1, 20)],
      [1, 0],
      [1, 1000],
      [1, 1001],
      [1, 0xffffffff],
      [1, rng.int(0, 100_000)],
    ]);
  // Every choice draws the same number of random values whatever the timing, so
  // the sequence of messages depends on the seed alone (the ids may differ).
  const jobRef = (): {
    job_id: string;
    tenant: string;
    lease_token: string;
    real: Lease__Output | undefined;
  } => {
    const useHeld = rng.bool(0.6);
    const heldPick = rng.next();
    const useShared = rng.bool(0.25);
    const sharedPick = rng.next();
    const useKnown = rng.bool(0.5);
    const knownPick = rng.next();
    // Mostly short ids: huge ones (echoed back in AckResult) cost the fuzzing
    // process more CPU than the broker, and a starved client cannot keep its
    // sessions alive.
    const randomId = rng.bool(0.9) ? rng.ascii(rng.int(1, 40)) : rng.string();
    const randomTenant = name(rng, FUZZ_TENANTS);
    const randomToken = rng.bool(0.5) ? rng.ascii(16) : rng.string();
    const shared = ctx.sharedLeases;
    const held =
      useHeld && leases.length > 0
        ? leases[Math.floor(heldPick * leases.length)]
        : useShared && shared.length > 0
          ? shared[Math.floor(sharedPick * shared.length)]
          : undefined;
    if (held)
      return {
        job_id: held.job_id,
        tenant: held.tenant,
        lease_token: held.lease_token,
        real: held,
      };
    const known =
      useKnown && ctx.knownJobIds.length > 0
        ? ctx.knownJobIds[Math.floor(knownPick * ctx.knownJobIds.length)]
        : undefined;
    return {
      job_id: known?.[1] ?? randomId,
      tenant: known?.[0] ?? randomTenant,
      lease_token: randomToken,
      real: undefined,
    };
  };
  /** The token to ack with: the real one only for fuzz tenants' leases, never for the protected pair's. */
  const token = (ref: ReturnType<typeof jobRef>): string => {
    const mayUseReal = ref.real !== undefined && !ctx.protectedTenants.has(ref.real.tenant);
    const useReal = rng.bool(0.5);
    return mayUseReal && useReal ? ref.lease_token : `${ref.lease_token}x`;
  };
  const hello = (random: boolean): WorkerMessage => ({
    hello: {
      worker_id: random ? rng.string() : `fuzz-${rng.int(0, 999)}`,
      queues: queues(),
      capacity: random ? capacity() : rng.int(1, 20),
      tenants: rng.bool(0.8)
        ? []
        : Array.from({ length: rng.int(1, 3) }, () => name(rng, FUZZ_TENANTS)),
      protocol_version: rng.weighted<number>([
        [8, 1],
        [2, 0],
        [1, 2],
        [0.5, 0xffffffff],
      ]),
      in_flight: rng.bool(0.7) ? [] : inFlight(),
    },
  });
  /**
   * Hello.in_flight: leases other streams hold or held (their real token
   * half the time), unknown and stale ones, a ref with another tenant, the
   * same ref twice; now and then more than a session may hold (refused), or
   * tens of thousands (each ref cost a Redis lookup: 40,000 stalled the
   * broker for seconds).
   */
  const inFlight = (): Array<{ job_id: string; tenant: string; lease_token: string }> => {
    const count = rng.weighted<number>([
      [5, rng.int(1, 5)],
      [1, rng.int(200, 1000)],
      [0.2, rng.int(1001, 1100)],
      [0.03, rng.int(20_000, 40_000)],
    ]);
    if (count > 1100) {
      // Cheap to make: random refs would cost this process seconds (and megabytes).
      const tenant = rng.pick(FUZZ_TENANTS);
      return Array.from({ length: count }, (_, k) => ({
        job_id: `j${k}`,
        tenant,
        lease_token: 't',
      }));
    }
    const refs: Array<{ job_id: string; tenant: string; lease_token: string }> = [];
    for (let k = 0; k < count; k++) {
      const ref = jobRef();
      const lease_token = token(ref);
      const otherTenant = name(rng, FUZZ_TENANTS);
      const shape = rng.weighted<string>([
        [20, 'as is'],
        [1, 'other tenant'],
        [1, 'again'],
      ]);
      if (shape === 'again' && k > 0) refs.push(refs[k - 1]!);
      else
        refs.push({
          job_id: ref.job_id,
          lease_token,
          tenant: shape === 'as is' ? ref.tenant : otherTenant,
        });
    }
    return refs;
  };

  // The first message. A Hello naming a tenant outside the token is refused.
  let refusal = refusalFor(caller, 'worker');
  const first = (message: WorkerMessage): WorkerMessage => {
    const { tenants, in_flight } = message.hello!;
    helloTenants = tenants ?? [];
    const named = [...helloTenants, ...(in_flight ?? []).map((ref) => ref.tenant ?? '')];
    refusal = refusalFor(caller, 'worker', named);
    return message;
  };
  rng.weighted<() => void>([
    [16, () => send('hello', first(hello(false)))],
    [2, () => send('hello(random)', first(hello(true)))],
    [1, () => send('heartbeat-first', { heartbeat: {} })],
    [
      1,
      () => {
        sentGarbage = true;
        const bytes = garbage(rng);
        send(`garbage-first(${bytes.length}:${bytes.subarray(0, 4).toString('hex')})`, bytes);
      },
    ],
  ])();

  const actions = rng.int(0, 25);
  for (let i = 0; i < actions && writable && !status; i++) {
    await rng.weighted<() => Promise<void> | void>([
      [4, () => send('heartbeat', { heartbeat: {} })],
      [
        3,
        () => {
          const ref = jobRef();
          send('complete', {
            complete: {
              job_id: ref.job_id,
              lease_token: token(ref),
              result: rng.bytes(rng.int(0, 100)),
              result_content_type: contentType(rng),
            },
          });
        },
      ],
      [
        2,
        () => {
          const ref = jobRef();
          send('fail', {
            fail: {
              job_id: ref.job_id,
              lease_token: token(ref),
              message: rng.string(),
              retryable: rng.bool(0.7),
              retry_after_ms: rng.pick([
                '0',
                '1',
                '100',
                '18446744073709551615',
                '9007199254740993',
              ]),
            },
          });
        },
      ],
      [
        2,
        () => {
          const ref = jobRef();
          const size = rng.weighted<number>([
            [5, rng.int(0, 200)],
            [1, 65_536],
            [1, 65_537],
            [1, rng.int(100_000, 1_500_000)],
          ]);
          send(`progress(${size})`, {
            progress: {
              job_id: ref.job_id,
              lease_token: rng.bool(0.5) ? ref.lease_token : 'bad',
              data: Buffer.alloc(size, 1),
              content_type: contentType(rng),
            },
          });
        },
      ],
      [
        1.5,
        () => {
          // One lease settled every way at once (its real token half the time):
          // Complete twice and Fail in one Acks; or one after another, with
          // Progress after the ack.
          const ref = jobRef();
          const lease_token = token(ref);
          const complete = { job_id: ref.job_id, lease_token, result: Buffer.from('r') };
          const fail = {
            job_id: ref.job_id,
            lease_token,
            message: 'twice',
            retryable: rng.bool(0.5),
            retry_after_ms: '0',
          };
          const progress = { job_id: ref.job_id, lease_token, data: Buffer.from('p') };
          if (rng.bool(0.5)) {
            send('acks(same lease ×3)', {
              acks: { completed: [complete, complete], failed: [fail] },
            });
          } else {
            send('complete(same lease)', { complete });
            send('progress(after ack)', { progress });
            send('fail(same lease)', { fail });
          }
        },
      ],
      [2, () => send('credit', { credit: { capacity: capacity() } })],
      [1, () => send('drain', { drain: {} })],
      [1, () => send('hello-again', hello(rng.bool(0.5)))],
      [1, () => send('empty', {})],
      [
        1,
        () => {
          const count = rng.weighted<number>([
            [5, rng.int(0, 10)],
            [1, rng.int(200, 1200)],
          ]);
          const refs = Array.from({ length: count }, jobRef);
          send(`acks(${count})`, {
            acks: {
              completed: refs
                .filter((_, k) => k % 2 === 0)
                .map((ref) => ({
                  job_id: ref.job_id,
                  lease_token: token(ref),
                  result: Buffer.alloc(0),
                })),
              failed: refs
                .filter((_, k) => k % 2 === 1)
                .map((ref) => ({
                  job_id: ref.job_id,
                  lease_token: token(ref),
                  message: 'fuzz',
                  retryable: true,
                  retry_after_ms: '0',
                })),
            },
          });
        },
      ],
      [
        0.5,
        () => {
          sentGarbage = true;
          const bytes = garbage(rng);
          send(`garbage(${bytes.length}:${bytes.subarray(0, 4).toString('hex')})`, bytes);
        },
      ],
      [3, () => sleep(rng.int(0, 80))],
      [
        1,
        async () => {
          // Fencing probe: a wrong token for a lease we hold must come back refused.
          const held = leases.find((l) => !refusedIds.has(l.job_id));
          if (!held || status) {
            send('heartbeat', { heartbeat: {} });
            return;
          }
          send('stale-probe', {
            complete: {
              job_id: held.job_id,
              lease_token: `${held.lease_token}-wrong`,
              result: Buffer.alloc(0),
            },
          });
          send('heartbeat', { heartbeat: {} });
          // The refusal is written before the answer to this heartbeat, so once that
          // answer is here a missing refusal is a fencing failure. No answer in time
          // (a slow link, or the session ended) proves nothing either way.
          const answered = heartbeatsSent;
          const until = Date.now() + 3000;
          while (heartbeatAcks < answered && !status && Date.now() < until) await sleep(10);
          if (heartbeatAcks >= answered && !refusedIds.has(held.job_id)) {
            unrefusedStaleAck = held.job_id;
          }
        },
      ],
      [
        2,
        async () => {
          // Scope probe: another tenant's lease, its real token, settled by a
          // worker whose token does not cover that tenant: refused, whoever holds it.
          const pick = rng.next();
          const asFail = rng.bool(0.5);
          const foreign = ctx.sharedLeases.filter((l) => caller && !covers(caller, l.tenant));
          const lease = foreign[Math.floor(pick * foreign.length)];
          if (!lease || status || refusal !== undefined) {
            send('heartbeat', { heartbeat: {} });
            return;
          }
          refusedIds.delete(lease.job_id);
          const { job_id, lease_token } = lease;
          if (asFail) {
            send(`scope-probe(fail ${lease.tenant})`, {
              fail: { job_id, lease_token, message: 'scope', retryable: true, retry_after_ms: '0' },
            });
          } else {
            send(`scope-probe(complete ${lease.tenant})`, {
              complete: { job_id, lease_token, result: Buffer.alloc(0) },
            });
          }
          send('heartbeat', { heartbeat: {} });
          const answered = heartbeatsSent;
          const until = Date.now() + 3000;
          while (heartbeatAcks < answered && !status && Date.now() < until) await sleep(10);
          if (heartbeatAcks >= answered) scopeProbes++;
          if (heartbeatAcks >= answered && !refusedIds.has(job_id)) {
            unrefusedForeignAck = `${lease.tenant}/${job_id} by ${as.label}`;
          }
        },
      ],
    ])();
    await Promise.resolve();
  }

  const ending = rng.weighted<StreamOutcome['ended']>([
    [12, 'half-close'],
    [6, 'cancel'],
    [0.5, 'silence'],
  ]);
  const endedBy: StreamOutcome['ended'] = status ? 'server' : ending;
  if (status) {
    // The broker already ended it.
  } else if (ending === 'half-close') {
    log.push('end');
    call.end();
  } else if (ending === 'cancel') {
    log.push('cancel');
    call.cancel();
  } else {
    log.push('silence'); // the broker must close it after the lease TTL
  }
  // After a cancel, or once the half-close has left, the status is due at once.
  // Before (silent on purpose, or a half-close behind messages still leaving),
  // the broker hears nothing until a message arrives whole, and ends a stream
  // a lease TTL (plus a sweep) after the last. Past that the stream hangs:
  // report it as DEADLINE_EXCEEDED without waiting for the call's own deadline.
  const endedAt = Date.now();
  const patience = (): { from: number; ms: number; after: string } => {
    if (ending === 'cancel') return { from: endedAt, ms: STATUS_PATIENCE_MS, after: 'cancel' };
    if (halfClosedAt !== undefined) {
      return { from: halfClosedAt, ms: STATUS_PATIENCE_MS, after: 'half-close left this process' };
    }
    return {
      from: Math.max(endedAt, lastSentAt ?? endedAt),
      ms: ctx.leaseTtlMs + SILENCE_PATIENCE_MS,
      after:
        endedBy === 'silence'
          ? 'last message left this process (then the stream went silent)'
          : 'last message left this process (the half-close waits behind unsent ones)',
    };
  };
  let wait = patience();
  while (!status && Date.now() < wait.from + wait.ms) {
    // Woken now and then: a message leaving, or the half-close, moves the limit.
    await Promise.race([statusReceived, sleep(Math.min(wait.from + wait.ms - Date.now(), 100))]);
    wait = patience();
  }
  const final: grpc.StatusObject = status ?? {
    code: grpc.status.DEADLINE_EXCEEDED,
    details: `no status ${Date.now() - wait.from} ms after the ${wait.after} (the test gave up waiting)`,
    metadata: new grpc.Metadata(),
  };
  // Before the cancel: it hands the writes still queued back as failed.
  const silenceMs = longestSilenceMs;
  if (!status) call.cancel();
  return {
    describe: `as ${as.label}: ${log.join(' ')}`,
    refusal,
    foreignLeases,
    unrefusedForeignAck,
    scopeProbes,
    code: final.code,
    details: final.details,
    ended: endedBy,
    sentGarbage,
    leases,
    unrefusedStaleAck,
    longestSilenceMs: silenceMs,
    ms: Date.now() - started,
  };
}
