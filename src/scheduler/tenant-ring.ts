/**
 * The round-robin ring: an intrusive doubly linked list, so joining at the
 * back, leaving from anywhere and rotating the head to the back are all O(1)
 * with any number of tenants.
 */
export interface RingLinks<T> {
  prev: T | undefined;
  next: T | undefined;
}

export class TenantRing<T extends RingLinks<T>> {
  #head: T | undefined;
  #tail: T | undefined;
  #length = 0;

  get head(): T | undefined {
    return this.#head;
  }

  get length(): number {
    return this.#length;
  }

  /** Appends a node that is not in the ring. */
  pushBack(node: T): void {
    node.prev = this.#tail;
    node.next = undefined;
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    this.#length += 1;
  }

  /** Unlinks a node that is in the ring. */
  remove(node: T): void {
    if (node.prev === undefined) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.#tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
    this.#length -= 1;
  }

  /** Moves a node that is in the ring to the back. */
  moveToBack(node: T): void {
    if (node === this.#tail) return;
    this.remove(node);
    this.pushBack(node);
  }
}
