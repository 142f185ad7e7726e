import { describe, expect, it } from 'vitest';
import { LiveQueue } from './live-queue.js';

describe('LiveQueue', () => {
  it('hands items out oldest first', () => {
    const queue = new LiveQueue<number>(3);
    queue.push(1);
    queue.push(2);
    expect(queue.take()).toEqual({ item: 1, droppedBefore: 0 });
    expect(queue.take()).toEqual({ item: 2, droppedBefore: 0 });
    expect(queue.take()).toBeUndefined();
  });

  it('never holds more than its capacity: the oldest go, and the reader is told how many', () => {
    const queue = new LiveQueue<number>(3);
    for (let i = 1; i <= 10_000; i++) {
      queue.push(i);
      expect(queue.size).toBeLessThanOrEqual(3);
    }
    expect(queue.take()).toEqual({ item: 9_998, droppedBefore: 9_997 });
    expect(queue.take()).toEqual({ item: 9_999, droppedBefore: 0 });
    queue.push(10_001);
    queue.push(10_002);
    queue.push(10_003);
    expect(queue.take()).toEqual({ item: 10_001, droppedBefore: 1 });
  });
});
