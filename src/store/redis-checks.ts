import type { Redis } from 'ioredis';

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
