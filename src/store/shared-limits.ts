import type { Redis } from 'ioredis';
import type { HoldingTtls, SlotRequest, TokenRequest } from '../scheduler/index.js';
import { packArgs, unpackReply } from './cmsgpack.js';
import type { Keys } from './keys.js';
import { SCRIPT_BATCH } from './packed.js';
import { defineScripts, sendBatch, type ScriptArg, type ScriptName } from './scripts.js';

export interface TokenGrant {
  /** 0..wanted. */
  readonly granted: number;
  /** Ms until the bucket holds a whole token again; 0 when it does. */
  readonly waitMs: number;
}

export interface SlotHolding {
  /**
   * Slots this broker may fill with leases: what it wanted, or what the other
   * brokers leave. It holds the slots of its leases in flight even beyond that
   * (see hold_slots.lua), so after a cap was lowered this may be fewer.
   */
  readonly usable: number;
  /** Other brokers wait for slots of this cap. */
  readonly othersWait: boolean;
}

/**
 * The limits every broker on a Redis shares, so that several replicas
 * together keep a tenant to its limits instead of each to the whole of them:
 * rate-limit token buckets (take_tokens.lua) and the holdings of in-flight
 * caps (hold_slots.lua).
 */
export class SharedLimitStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** This broker's name in the holdings. */
    private readonly broker: string,
  ) {
    defineScripts(redis);
  }

  /** Takes up to `wanted` tokens of each bucket; one grant per request, in order. */
  async takeTokens(requests: readonly TokenRequest[]): Promise<TokenGrant[]> {
    const values = await this.run('take_tokens', [], requests, (r) => [
      this.keys.tokens(r.tenant, r.queue),
      r.rate,
      r.size,
      r.wanted,
    ]);
    return pairs(values, (granted, waitMs) => ({ granted, waitMs }));
  }

  /**
   * Sets this broker's holding of each cap, lapsing after `ttls` without a
   * renewal; one answer per request, in order.
   */
  async holdSlots(requests: readonly SlotRequest[], ttls: HoldingTtls): Promise<SlotHolding[]> {
    const shared = [this.broker, ttls.holdingMs, ttls.leasesMs];
    const values = await this.run('hold_slots', shared, requests, (r) => [
      this.keys.slots(r.tenant, r.queue),
      r.cap,
      r.wanted,
      r.keep,
    ]);
    return pairs(values, (usable, othersWait) => ({ usable, othersWait: othersWait === 1 }));
  }

  /**
   * Runs a packed script over the requests, SCRIPT_BATCH per call, all calls
   * in one write; the replies' numbers, in order.
   */
  private async run<Request>(
    name: ScriptName,
    shared: readonly ScriptArg[],
    requests: readonly Request[],
    argsOf: (request: Request) => [key: string, ...rest: ScriptArg[]],
  ): Promise<number[]> {
    const replies = await sendBatch(this.redis, (batch) => {
      for (let start = 0; start < requests.length; start += SCRIPT_BATCH) {
        const parts = requests.slice(start, start + SCRIPT_BATCH).map(argsOf);
        batch.script(name, [parts[0]![0]], [packArgs([...shared, ...parts.flat()])], true);
      }
    });
    return replies.flatMap((reply) => unpackReply(reply as Buffer).map(Number));
  }
}

function pairs<T>(values: readonly number[], make: (first: number, second: number) => T): T[] {
  const out: T[] = [];
  for (let i = 0; i < values.length; i += 2) out.push(make(values[i]!, values[i + 1]!));
  return out;
}
