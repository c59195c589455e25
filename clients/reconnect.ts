/**
 * Reconnect backoff of the Worker: exponential with full jitter. The delay
 * before reconnect attempt n (0-based) is uniform in
 * [initialMs, min(maxMs, initialMs × 2^(n+1))], so a fleet of workers that lost
 * the same broker spreads its reconnects instead of arriving at once.
 */
export function reconnectDelayMs(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt + 1, 30));
  return Math.round(initialMs + random() * Math.max(0, ceiling - initialMs));
}
