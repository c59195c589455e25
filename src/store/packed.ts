import type { Redis } from 'ioredis';
import { packArgs, ReplyReader, unpackReply } from './cmsgpack.js';
import { sendBatch, type Batch, type ScriptArg, type ScriptName } from './scripts.js';

/** Most jobs (or buckets, caps) in one script call: bounds the time Redis spends in one script. */
export const SCRIPT_BATCH = 200;

/** The jobs of one tenant (or tenant×queue) in a packed call. */
export interface PackedGroup {
  /** Any key of the group's tenant: KEYS[1] of a call the group opens. */
  readonly routingKey: string;
  /** The group's values ahead of its job count (its key bases, …). */
  readonly header: readonly ScriptArg[];
  /** Indexes of the group's jobs in the caller's list. */
  readonly items: readonly number[];
  /**
   * Values after the group's jobs in each call that carries some of them;
   * `call` is that call's index in the returned list, `last` whether the
   * group's last jobs are in it.
   */
  readonly trailer?: (call: number, last: boolean) => readonly ScriptArg[];
}

/**
 * Queues on `batch` script calls that each carry the jobs of many tenants, up to
 * SCRIPT_BATCH jobs per call. The arguments, packed into ARGV[1] (see
 * cmsgpack.ts), are `shared` (a function: the call's own, given its index and
 * its first group), then per group its header, its job count, per
 * job `itemArgs(index)` and its trailer, if any; the script walks them with `each_group`
 * (lua/includes/common.lua) and answers one packed list (read it with
 * unpackReply). Returns, per call queued, the job indexes in the order the
 * script answers them.
 *
 * Why: with one call per tenant, 10,000 active tenants of a few jobs each cost
 * a script call (an ioredis command, a reply, an EVALSHA) per job or two, and
 * the broker's CPU per job doubled. Each group still touches one tenant's keys
 * only; what a call spans is several tenants' slots, which a single Redis runs
 * as one script. A Redis Cluster mode would split the groups by hash slot.
 */
/** The arguments ahead of a packed call's groups: the same for every call, or each call's own. */
export type SharedArgs =
  readonly ScriptArg[] | ((call: number, first: PackedGroup) => readonly ScriptArg[]);

function queuePacked(
  batch: Batch,
  name: ScriptName,
  shared: SharedArgs,
  groups: Iterable<PackedGroup>,
  itemArgs: (index: number, args: ScriptArg[]) => void,
): number[][] {
  const calls: number[][] = [];
  let args: ScriptArg[] = [];
  let order: number[] = [];
  let routingKey = '';
  const flush = (): void => {
    if (order.length === 0) return;
    batch.script(name, [routingKey], [packArgs(args)], true);
    calls.push(order);
    order = [];
  };
  for (const group of groups) {
    for (let start = 0; start < group.items.length;) {
      if (order.length === 0) {
        args = [...(typeof shared === 'function' ? shared(calls.length, group) : shared)];
        routingKey = group.routingKey;
      }
      const take = Math.min(SCRIPT_BATCH - order.length, group.items.length - start);
      args.push(...group.header, take);
      for (const index of group.items.slice(start, start + take)) {
        itemArgs(index, args);
        order.push(index);
      }
      start += take;
      if (group.trailer) args.push(...group.trailer(calls.length, start === group.items.length));
      if (order.length === SCRIPT_BATCH) flush();
    }
  }
  flush();
  return calls;
}

/** One packed call's answer: the caller's indexes of its items in argument order, and its reply. */
export interface PackedReply {
  readonly items: readonly number[];
  /** The reply list, unpacked on first use. */
  readonly values: Array<number | Buffer>;
  /** A reader of the reply list, past its length (for replies read value by value). */
  readonly reader: () => ReplyReader;
}

function packedReply(items: readonly number[], reply: Buffer): PackedReply {
  let values: Array<number | Buffer> | undefined;
  return {
    items,
    get values() {
      return (values ??= unpackReply(reply));
    },
    reader: () => ReplyReader.ofList(reply),
  };
}

/** Commands sent in the same write as the packed calls, before and after them; their replies are not returned. */
export interface AlongsidePacked {
  before?(batch: Batch): void;
  after?(batch: Batch): void;
}

/** Sends the packed calls (see queuePacked) in one write, with `alongside`'s commands, and answers each call. */
export async function sendPacked(
  redis: Redis,
  name: ScriptName,
  shared: SharedArgs,
  groups: Iterable<PackedGroup>,
  itemArgs: (index: number, args: ScriptArg[]) => void,
  alongside: AlongsidePacked = {},
): Promise<PackedReply[]> {
  let calls: number[][] = [];
  let first = 0;
  const replies = await sendBatch(redis, (batch) => {
    alongside.before?.(batch);
    first = batch.size;
    calls = queuePacked(batch, name, shared, groups, itemArgs);
    alongside.after?.(batch);
  });
  return replies
    .slice(first, first + calls.length)
    .map((reply, call) => packedReply(calls[call]!, reply as Buffer));
}
