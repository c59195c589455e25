/**
 * One random EnqueueStream: 0–12 requests as raw bytes (random and valid jobs
 * from enqueue-gen.ts; request ids repeated, zero or 2^64 − 1; empty requests,
 * batches just over the broker's limit, one so far over it that its refusal
 * would pass 4 MiB; garbage frames), then a half-close, a cancel, or a
 * half-close before anything was sent; as a token of the table
 * (credentials.ts), or with no valid one. Checks each answer against what was
 * sent: a known request id, one result per job, an error where the code is
 * not OK, the batch limit stated, each item refused for the token where it
 * names a tenant outside it and only there (ledger.ts); and, once the stream
 * ended OK, an answer for every request.
 */
import * as grpc from '@grpc/grpc-js';

import type { EnqueueRequest__Output } from '../../src/generated/rota/v1/EnqueueRequest.js';
import type { EnqueueStreamRequest__Output } from '../../src/generated/rota/v1/EnqueueStreamRequest.js';
import type { EnqueueStreamResponse__Output } from '../../src/generated/rota/v1/EnqueueStreamResponse.js';
import { loadRotaPackageDefinition } from '../../src/grpc/proto.js';
import { refusalFor, type Credential } from './credentials.js';
import { enqueueRequest, garbage, tracked } from './enqueue-gen.js';
import type { EnqueueLedger } from './ledger.js';
import type { Rng } from './prng.js';
import { Wire } from './wire.js';

interface MethodDefinition {
  path: string;
  requestDeserialize(bytes: Buffer): unknown;
  responseDeserialize(bytes: Buffer): unknown;
}

export interface EnqueueStreamOutcome {
  readonly describe: string;
  readonly code: grpc.status;
  readonly details: string;
  readonly ended: 'half-close' | 'cancel';
  readonly sentGarbage: boolean;
  /** The code the stream must end with for its token, if any (a cancel may come first). */
  readonly refusal: grpc.status | undefined;
  /** Answers that do not fit the requests sent. */
  readonly problems: readonly string[];
  readonly ms: number;
}

const REQUEST_IDS: ReadonlyArray<bigint | number> = [0, 1, 2n ** 64n - 1n, 2n ** 63n];

export async function fuzzEnqueueStream(
  rng: Rng,
  client: grpc.Client,
  /** The stream's deadline for this many bytes of requests. */
  deadlineMs: (bytes: number) => number,
  credential: Credential,
  ledger: EnqueueLedger,
): Promise<EnqueueStreamOutcome> {
  const method = (
    loadRotaPackageDefinition()['rota.v1.Broker'] as unknown as Record<string, MethodDefinition>
  ).EnqueueStream!;
  const { caller } = credential;
  /** Jobs of the requests not yet answered, per request id (a repeated id: one entry per request). */
  const unanswered = new Map<string, EnqueueRequest__Output[][]>();
  /**
   * Garbage, or a request with a 6–9 byte varint, may decode all the same as
   * some request (protobufjs skips unknown groups, and misreads what follows
   * such a varint), answered under any id: past one, answers are not matched
   * to requests.
   */
  let sentGarbage = false;
  const log: string[] = [];
  const frames: Buffer[] = [];
  /** The jobs of a frame, as the broker may decode them (none when it does not). */
  const decodeJobs = (frame: Buffer): EnqueueRequest__Output[] => {
    try {
      return (method.requestDeserialize(frame) as EnqueueStreamRequest__Output).jobs;
    } catch {
      return [];
    }
  };
  const count = rng.weighted<number>([
    [1, 0],
    [8, rng.int(1, 4)],
    [2, rng.int(5, 12)],
  ]);
  for (let i = 0; i < count; i++) {
    const kind = rng.weighted<string>([
      [10, 'jobs'],
      [1, 'empty'],
      [1, 'over-limit'],
      [0.3, 'far-over-limit'],
      [0.5, 'garbage'],
    ]);
    if (kind === 'garbage') {
      sentGarbage = true;
      const bytes = garbage(rng);
      log.push(`garbage(${bytes.length}:${bytes.subarray(0, 4).toString('hex')})`);
      frames.push(bytes);
      continue;
    }
    const jobs =
      kind === 'empty'
        ? 0
        : kind === 'over-limit'
          ? rng.int(1001, 1010)
          : kind === 'far-over-limit'
            ? rng.int(45_000, 50_000)
            : rng.int(1, 20);
    const id = rng.bool(0.8) ? BigInt(rng.int(1, 20)) : BigInt(rng.pick(REQUEST_IDS));
    const { value: w, undecodable } = tracked(() => {
      const request = new Wire();
      if (id !== 0n || rng.bool(0.5)) request.uint(1, id);
      for (let k = 0; k < jobs; k++) {
        // Past the limit the jobs are never looked at: keep them small and cheap.
        if (jobs > 1000) request.message(2, new Wire());
        else request.message(2, enqueueRequest(rng, rng.bool(0.5)));
      }
      return request;
    });
    const key = id.toString();
    log.push(`${kind}(id ${key}, ${jobs} jobs${undecodable ? ', a 6-9 byte varint' : ''})`);
    if (undecodable) sentGarbage = true;
    const frame = w.finish();
    unanswered.set(key, [...(unanswered.get(key) ?? []), decodeJobs(frame)]);
    frames.push(frame);
  }
  const ended = rng.bool(0.8) ? 'half-close' : 'cancel';
  log.push(ended);

  // Requests of payloads take megabytes: made first, so the deadline can allow for them.
  const started = Date.now();
  const bytes = frames.reduce((sum, frame) => sum + frame.length, 0);
  const call = client.makeBidiStreamRequest<Buffer, EnqueueStreamResponse__Output>(
    method.path,
    (frame) => frame,
    (frame) => method.responseDeserialize(frame) as EnqueueStreamResponse__Output,
    credential.metadata,
    { deadline: started + deadlineMs(bytes) },
  );
  const problems: string[] = [];
  const refusal = refusalFor(caller, 'producer');
  /** Items refused for the token: PERMISSION_DENIED where the token may not name the tenant. */
  const denials = (jobs: readonly EnqueueRequest__Output[]): string =>
    jobs.map((job) => (refusalFor(caller, 'producer', [job.tenant]) ? 'D' : '-')).join('');
  const matchAnswer = (response: EnqueueStreamResponse__Output): void => {
    const pending = unanswered.get(response.request_id);
    const { results } = response;
    const sameSize = pending?.filter((jobs) => jobs.length === results.length) ?? [];
    if (pending === undefined || sameSize.length === 0) {
      problems.push(
        `answer to request ${response.request_id} with ${results.length} results; unanswered: ${JSON.stringify([...unanswered].map(([id, list]) => [id, list.map((jobs) => jobs.length)]))}`,
      );
      return;
    }
    // Of the requests under this id with as many jobs, the one whose items the token lets through.
    const answered = results.map((r) =>
      (r.code as grpc.status) === grpc.status.PERMISSION_DENIED ? 'D' : '-',
    );
    const jobs = sameSize.find((list) => denials(list) === answered.join('')) ?? sameSize[0]!;
    pending.splice(pending.indexOf(jobs), 1);
    if (pending.length === 0) unanswered.delete(response.request_id);
    if (caller !== undefined) {
      problems.push(...ledger.answered(caller, jobs, results, `request ${response.request_id}`));
    }
  };
  call.on('data', (response: EnqueueStreamResponse__Output) => {
    if (refusal !== undefined) problems.push(`an answer on a stream its token may not open`);
    if (!sentGarbage) matchAnswer(response);
    if (response.max_batch_size === 0) problems.push('an answer without max_batch_size');
    const unexplained = response.results.find((r) => r.code !== 0 && r.error === '');
    if (unexplained) problems.push(`an item refused with code ${unexplained.code} and no error`);
  });
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  for (const frame of frames) call.write(frame);
  if (ended === 'half-close') call.end();
  else call.cancel();
  const final = await status;
  // A refused request (garbage, far over the limit) ends the stream with what
  // follows it unanswered; only a stream that ended OK answered everything.
  if (final.code === grpc.status.OK && unanswered.size > 0 && !sentGarbage) {
    problems.push(
      `ended OK with requests unanswered: ${JSON.stringify([...unanswered].map(([id, list]) => [id, list.length]))}`,
    );
  }
  // Jobs of a stream refused as it opened are stored nowhere; the others' outcome may be unknown.
  const rest = [...unanswered.values()].flat(2);
  if (refusal !== undefined) ledger.refused(rest, 'an EnqueueStream its token may not open');
  else ledger.sent(sentGarbage ? frames.flatMap(decodeJobs) : rest);
  return {
    describe: log.join(' '),
    code: final.code,
    details: final.details,
    ended,
    sentGarbage,
    refusal,
    problems,
    ms: Date.now() - started,
  };
}
