/**
 * A set that keeps at most `max` values: adding past that forgets the values
 * added longest ago (a Set iterates in insertion order). For bookkeeping per
 * tenant that is safe to forget and would otherwise grow with every tenant
 * ever seen.
 */
export class BoundedSet<T> {
  readonly #values = new Set<T>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`max must be a positive integer, got ${max}`);
  }

  get size(): number {
    return this.#values.size;
  }

  has(value: T): boolean {
    return this.#values.has(value);
  }

  /** Adds the value (a value already there keeps its place in line). */
  add(value: T): void {
    this.#values.add(value);
    if (this.#values.size <= this.max) return;
    for (const oldest of this.#values) {
      this.#values.delete(oldest);
      return;
    }
  }

  delete(value: T): boolean {
    return this.#values.delete(value);
  }
}
