/**
 * Binary min-heap of wake-ups ordered by time, ties in insertion order (so
 * equal wake times are served first come, first served, deterministically).
 * Holders invalidate an item by forgetting its `seq`; `retain` drops such
 * items in one O(n) pass when they pile up.
 */
export interface WakeItem<T> {
  readonly at: number;
  readonly seq: number;
  readonly value: T;
}

export class WakeHeap<T> {
  #items: WakeItem<T>[] = [];
  #seq = 0;

  get length(): number {
    return this.#items.length;
  }

  /** Adds a wake-up at clock time `at`; returns its sequence number. */
  push(at: number, value: T): number {
    const item = { at, seq: this.#seq++, value };
    this.#items.push(item);
    this.#siftUp(this.#items.length - 1);
    return item.seq;
  }

  peek(): WakeItem<T> | undefined {
    return this.#items[0];
  }

  pop(): WakeItem<T> | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (top !== undefined && last !== undefined && items.length > 0) {
      items[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** Keeps only the items `keep` accepts, re-heapified in O(n). */
  retain(keep: (item: WakeItem<T>) => boolean): void {
    this.#items = this.#items.filter(keep);
    for (let i = (this.#items.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #siftUp(index: number): void {
    const items = this.#items;
    const item = items[index] as WakeItem<T>;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex] as WakeItem<T>;
      if (!before(item, parent)) break;
      items[index] = parent;
      index = parentIndex;
    }
    items[index] = item;
  }

  #siftDown(index: number): void {
    const items = this.#items;
    const length = items.length;
    const item = items[index] as WakeItem<T>;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= length) break;
      const right = child + 1;
      if (right < length && before(items[right] as WakeItem<T>, items[child] as WakeItem<T>)) {
        child = right;
      }
      const smallest = items[child] as WakeItem<T>;
      if (!before(smallest, item)) break;
      items[index] = smallest;
      index = child;
    }
    items[index] = item;
  }
}

function before<T>(a: WakeItem<T>, b: WakeItem<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
