/**
 * The value of `key` in `map`, made by `make` and stored on first use: the
 * nested maps of the broker's per-tenant×queue books (labels, counters,
 * stats) look up without building a composed key string per job.
 */
export function entryOf<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** A new empty Map, for entryOf: one function, not a closure per call. */
export const newMap = <K, V>(): Map<K, V> => new Map<K, V>();
