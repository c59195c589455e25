import type { Redis } from 'ioredis';
import { LAYOUT_VERSION, type Keys } from './keys.js';

/**
 * What in a Redis setup can lose acknowledged jobs. Rota keeps every job in
 * Redis: an eviction policy other than noeviction drops jobs under memory
 * pressure, and without the AOF a Redis restart loses whatever was not
 * snapshotted. Returns one warning per problem (none when CONFIG is not allowed,
 * as on some managed services).
 */
export async function redisDurabilityWarnings(redis: Redis): Promise<string[]> {
  const warnings: string[] = [];
  try {
    const policy = await redis.config('GET', 'maxmemory-policy');
    const value = policy[1];
    if (value !== undefined && value !== 'noeviction') {
      warnings.push(
        `Redis maxmemory-policy is ${value}: under memory pressure Redis will evict jobs. Set it to noeviction`,
      );
    }
    const aof = await redis.config('GET', 'appendonly');
    if (aof[1] === 'no') {
      warnings.push(
        'Redis persistence (appendonly) is off: a Redis restart loses every job not in the last snapshot. Set appendonly yes (appendfsync everysec loses at most about a second of jobs on a crash; always loses none)',
      );
    }
  } catch {
    // CONFIG may be disabled (managed Redis): nothing to check.
  }
  return warnings;
}

/**
 * Why this Redis cannot run Rota, from its `INFO server` text; undefined when
 * it can (or when the text has no version, as behind some proxies). The Lua
 * scripts need Redis 7.0: a script flag (`allow-oom`, see scripts.ts) makes
 * older servers refuse to compile them, and every lease would fail.
 */
export function redisVersionProblem(serverInfo: string): string | undefined {
  const found = /^redis_version:((\d+)\S*)/m.exec(serverInfo);
  if (!found || Number(found[2]) >= 7) return undefined;
  return `Redis ${found[1]} is too old: Rota needs Redis 7.0 or newer. Upgrade it, or point ROTA_REDIS_URL at a newer Redis`;
}

/** Refuses to start on a Redis too old for the scripts (see redisVersionProblem). */
export async function checkRedisVersion(redis: Redis): Promise<void> {
  let info: string;
  try {
    info = await redis.info('server');
  } catch {
    return; // INFO may be disabled (managed Redis): nothing to check.
  }
  const problem = redisVersionProblem(info);
  if (problem !== undefined) throw new Error(problem);
}

/** The data under the broker's key prefix is of another layout than this code's (see Keys.layout). */
export class LayoutMismatch extends Error {
  override readonly name = 'LayoutMismatch';
}

/**
 * Marks the data layout under the prefix as this code's when nothing marks it
 * (a new or emptied Redis, or data from before the mark: layout 1), in one
 * command; throws LayoutMismatch when another layout marks it.
 */
export async function checkLayout(redis: Redis, keys: Keys): Promise<void> {
  const key = keys.layout();
  const found = await redis.set(key, String(LAYOUT_VERSION), 'NX', 'GET');
  if (found === null || found === String(LAYOUT_VERSION)) return;
  throw new LayoutMismatch(
    `this Redis holds Rota data of layout ${found} under key prefix "${keys.prefix}" (the key ${key}); this broker reads layout ${LAYOUT_VERSION}: run brokers of the release that wrote it, or migrate the data first (see README, "Upgrades")`,
  );
}
