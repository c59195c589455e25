import { WakeHeap } from './wake-heap.js';

/**
 * The line of tenants whose fetch waits for room under a queue's prefetch
 * bound, in weighted turns (start-time fair queueing): a tenant joins with the
 * start tag max(V, its last finish), where V is the start tag of the tenant
 * admitted last, and each admission charges the jobs it fetched over the
 * tenant's weight to its finish. The smallest start goes first, ties first
 * come, first served.
 *
 * Why: under the bound a tenant buffers about one job, so it is the line, not
 * the DRR, that decides the shares. First come, first served, a tenant of
 * weight 4 came back to the end of the line after every job and was served as
 * often as a tenant of weight 1. With start tags, a tenant of weight w that is
 * back in line at once is admitted w times as often; one that was away (no
 * work, or its jobs still buffered) starts at V, with no credit saved up.
 */
export class WeightedLine {
  readonly #heap = new WakeHeap<string>();
  readonly #inLine = new Set<string>();
  readonly #finishes = new Map<string, number>();
  #virtual = 0;

  get size(): number {
    return this.#inLine.size;
  }

  /** Tenants that keep a finish tag (in line, or back from their turn with work left). */
  get tagged(): number {
    return this.#finishes.size;
  }

  has(tenant: string): boolean {
    return this.#inLine.has(tenant);
  }

  /** Puts the tenant in line (no change if it is in line already). */
  add(tenant: string): void {
    if (this.#inLine.has(tenant)) return;
    this.#inLine.add(tenant);
    this.#heap.push(Math.max(this.#virtual, this.#finishes.get(tenant) ?? 0), tenant);
  }

  /** The tenant whose turn is next. */
  peek(): string | undefined {
    return this.#heap.peek()?.value;
  }

  /** Takes the next tenant out of the line; charge() then says what its turn fetched. */
  shift(): string | undefined {
    const item = this.#heap.pop();
    if (!item) return undefined;
    this.#inLine.delete(item.value);
    this.#virtual = item.at;
    this.#finishes.set(item.value, item.at);
    return item.value;
  }

  /** The tenant just shifted fetched `jobs` in its turn, at `weight`. */
  charge(tenant: string, jobs: number, weight: number): void {
    const start = this.#finishes.get(tenant) ?? this.#virtual;
    this.#finishes.set(tenant, start + jobs / weight); // weight ≥ MIN_WEIGHT > 0
  }

  /** The tenant has no work left: it keeps no tag (a returning tenant starts at V). */
  forget(tenant: string): void {
    if (!this.#inLine.has(tenant)) this.#finishes.delete(tenant);
  }
}
