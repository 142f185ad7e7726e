import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { forEachLimited, Mutex, TaskGroup } from './concurrency.js';

describe('TaskGroup', () => {
  it('never runs more than its limit at once, and settle waits for all', async () => {
    const group = new TaskGroup(3);
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    for (let i = 0; i < 10; i++) {
      await group.add(async () => {
        peak = Math.max(peak, ++running);
        await sleep(5 + (i % 3));
        running--;
        done.push(i);
      });
    }
    await group.settle();
    expect(peak).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('starts nothing after a failure, and throws it only once every started task has ended', async () => {
    const group = new TaskGroup(2);
    const ended: string[] = [];
    await group.add(async () => {
      await sleep(1);
      ended.push('fails');
      throw new Error('boom');
    });
    await group.add(async () => {
      await sleep(30);
      ended.push('slow');
    });
    // Both slots are taken; this waits, sees the failure, and is not started.
    await expect(group.add(async () => void ended.push('never'))).rejects.toThrow('boom');
    await expect(group.settle()).rejects.toThrow('boom');
    expect(ended).toEqual(['fails', 'slow']);
  });

  it('refuses a limit below 1', () => {
    expect(() => new TaskGroup(0)).toThrow(RangeError);
  });
});

describe('forEachLimited', () => {
  it('calls the task for every item, at most `limit` at a time', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 2, async (item) => {
      peak = Math.max(peak, ++running);
      await sleep(2);
      seen.push(item);
      running--;
    });
    expect(peak).toBe(2);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('throws the first failure after the tasks in flight have ended', async () => {
    const ended: number[] = [];
    await expect(
      forEachLimited([1, 2, 3, 4], 2, async (item) => {
        if (item === 1) {
          await sleep(5);
          throw new Error('first');
        }
        await sleep(30);
        ended.push(item);
      }),
    ).rejects.toThrow('first');
    expect(ended).toEqual([2]);
  });
});

describe('Mutex', () => {
  it('runs one task at a time, in order, and a failure fails only its caller', async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    const slow = mutex.run(async () => {
      order.push('a in');
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('a out');
    });
    const failing = mutex.run(async () => {
      order.push('b');
      throw new Error('b failed');
    });
    const after = mutex.run(async () => {
      order.push('c');
      return 3;
    });
    await slow;
    await expect(failing).rejects.toThrow('b failed');
    expect(await after).toBe(3);
    expect(order).toEqual(['a in', 'a out', 'b', 'c']);
  });
});
