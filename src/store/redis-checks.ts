import type { Redis } from 'ioredis';
import { LAYOUT_VERSION, type Keys } from './keys.js';
import { keyPages } from './tenant-indexes.js';

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

/** The layout of data written before the mark was kept: every release before it read layout 1. */
const UNMARKED_LAYOUT = 1;

/**
 * At start: refuses data of another layout than `version` (LayoutMismatch),
 * and marks it when nothing does. Unmarked data is of layout 1 (it was
 * written before the mark was kept); with no data, the prefix is marked as
 * this broker's.
 */
export async function checkLayout(
  redis: Redis,
  keys: Keys,
  version: number = LAYOUT_VERSION,
): Promise<void> {
  const unmarkedData = (await redis.exists(keys.layout())) === 0 && (await holdsData(redis, keys));
  await markLayout(redis, keys, version, unmarkedData ? UNMARKED_LAYOUT : version);
}

/**
 * Marks the layout as `mark` when nothing marks it, in one command; throws
 * LayoutMismatch when the layout marked is not `version`. Running brokers
 * call it as is: after Redis lost its keys, the data there is what they wrote
 * since, of their layout.
 */
export async function markLayout(
  redis: Redis,
  keys: Keys,
  version: number = LAYOUT_VERSION,
  mark: number = version,
): Promise<void> {
  const key = keys.layout();
  const found = (await redis.set(key, String(mark), 'NX', 'GET')) ?? String(mark);
  if (found === String(version)) return;
  throw new LayoutMismatch(
    `this Redis holds Rota data of layout ${found} under key prefix "${keys.prefix}" (the key ${key}); this broker reads layout ${version}: run brokers of the release that wrote it, or migrate the data first (see README, "Upgrades")`,
  );
}

/**
 * Whether any job or tenant setting is under the prefix. Asked only of an
 * unmarked prefix (once per Redis, or after it lost its keys): the SCAN of
 * the tenant keys looks at the whole keyspace when there are none (about
 * 0.8 s of Redis per million keys), and stops at the first.
 */
async function holdsData(redis: Redis, keys: Keys): Promise<boolean> {
  if ((await redis.exists(keys.tenantIndex(), keys.queues())) > 0) return true;
  for await (const page of keyPages(redis, keys.tenantKeysPattern())) {
    if (page.length > 0) return true;
  }
  return false;
}
