/**
 * Splits what a client sends into messages the broker can receive: the
 * broker ends a stream on a message over its limit (16 MiB at least), losing
 * everything on it, so the Producer's batches and the Worker's acks are cut
 * by bytes as well as by count.
 */

/**
 * Splits items, in order, into groups of at most `maxItems` items and
 * `maxBytes` (by `sizeOf`), at least one item each: an item larger than
 * `maxBytes` goes alone.
 */
export function messageGroups<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxBytes: number,
  maxItems = Number.POSITIVE_INFINITY,
): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (group.length > 0 && (group.length >= maxItems || bytes + size > maxBytes)) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(item);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
