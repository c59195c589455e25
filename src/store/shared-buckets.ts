import type { Redis } from 'ioredis';
import type { TokenRequest } from '../scheduler/index.js';
import { packArgs, unpackReply } from './cmsgpack.js';
import type { Keys } from './keys.js';
import { defineScripts, runScript, type ScriptArg } from './scripts.js';

export interface TokenGrant {
  /** 0..wanted. */
  readonly granted: number;
  /** Ms until the bucket holds a whole token again; 0 when it does. */
  readonly waitMs: number;
}

/** Most buckets in one script call: bounds the time Redis spends in one script. */
const BUCKETS_PER_CALL = 200;

/**
 * Rate-limit token buckets in Redis, shared by every broker on it
 * (take_tokens.lua), so that several replicas together keep a tenant to its
 * rate instead of each to the whole of it.
 */
export class SharedBuckets {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    defineScripts(redis);
  }

  /** Takes up to `wanted` tokens of each bucket; one grant per request, in order. */
  async take(requests: readonly TokenRequest[]): Promise<TokenGrant[]> {
    const grants: TokenGrant[] = [];
    for (let start = 0; start < requests.length; start += BUCKETS_PER_CALL) {
      const args: ScriptArg[] = [];
      for (const { tenant, queue, rate, size, wanted } of requests.slice(
        start,
        start + BUCKETS_PER_CALL,
      )) {
        args.push(this.keys.tokens(tenant, queue), rate, size, wanted);
      }
      const reply = await runScript(
        this.redis,
        'take_tokens',
        [args[0] as string],
        [packArgs(args)],
        true,
      );
      const values = unpackReply(reply as Buffer).map(Number);
      for (let i = 0; i < values.length; i += 2)
        grants.push({ granted: values[i]!, waitMs: values[i + 1]! });
    }
    return grants;
  }
}
