/**
 * The events waiting to be written to one live stream, at most `capacity` of them: a reader slower
 * than the events loses the oldest, and is told how many (`droppedBefore`) with the next one it gets.
 * Memory per stream is bounded whatever the reader does.
 */
export class LiveQueue<T> {
  private items: T[] = [];
  private head = 0;
  /** Items dropped since the reader last took one. */
  private droppedSince = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.size >= this.capacity) {
      this.head++;
      this.droppedSince++;
    }
    this.items.push(item);
    // Compact now and then rather than shift() each time (which is linear).
    if (this.head > this.capacity) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** The oldest item, with the number dropped before it since the last take; undefined when empty. */
  take(): { item: T; droppedBefore: number } | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head++] as T;
    const droppedBefore = this.droppedSince;
    this.droppedSince = 0;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return { item, droppedBefore };
  }
}
