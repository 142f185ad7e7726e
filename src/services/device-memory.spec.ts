import { describe, expect, it } from 'vitest';
import { DeviceMemory, type RememberedState } from './device-memory.js';

const APP = 'com.example.app';
const state = (n: number, known = true): RememberedState => ({
  rest: n,
  version: known ? n + 1 : undefined,
  channel: known ? -n : undefined,
  at: 1_700_000_000_000 + n,
});
const has = (memory: DeviceMemory, device: string) => memory.get(APP, device) !== undefined;

describe('DeviceMemory', () => {
  it('gives back the state remembered, the parts not known included', () => {
    const memory = new DeviceMemory(10);
    memory.set(APP, 'a', state(7));
    memory.set(APP, 'b', state(-3, false));
    expect(memory.get(APP, 'a')).toEqual(state(7));
    expect(memory.get(APP, 'b')).toEqual(state(-3, false));
    expect(memory.get(APP, 'c')).toBeUndefined();
    expect(memory.get('com.example.other', 'a')).toBeUndefined();
    memory.set(APP, 'a', state(8, false));
    expect(memory.get(APP, 'a')).toEqual(state(8, false));
    expect(memory.size).toBe(2);
  });

  it('tells apart ids that only split differently between app and device', () => {
    const memory = new DeviceMemory(10);
    memory.set('com.a', 'bc', state(1));
    expect(memory.get('com.ab', 'c')).toBeUndefined();
    expect(memory.hash('ab', 'c')).not.toBe(memory.hash('a', 'bc'));
    expect(memory.hash('a', '')).not.toBe(memory.hash('', 'a'));
    expect(memory.hash('1.0.0')).toBe(memory.hash('1.0.0'));
  });

  it('forgets the least recently used device past its bound', () => {
    const memory = new DeviceMemory(2);
    memory.set(APP, 'a', state(1));
    memory.set(APP, 'b', state(2));
    expect(has(memory, 'a')).toBe(true); // now b is the least recently used
    memory.set(APP, 'c', state(3));
    expect([has(memory, 'a'), has(memory, 'b'), has(memory, 'c')]).toEqual([true, false, true]);
    expect(memory.size).toBe(2);
  });

  it('keeps every device while it grows, and the most recent ones once full', () => {
    const memory = new DeviceMemory(3000);
    for (let i = 0; i < 5000; i++) memory.set(APP, `device-${i}`, state(i));
    expect(memory.size).toBe(3000);
    for (let i = 0; i < 2000; i++) expect(memory.get(APP, `device-${i}`)).toBeUndefined();
    for (let i = 2000; i < 5000; i++) expect(memory.get(APP, `device-${i}`)).toEqual(state(i));
  });

  it('forgets a device on delete, and reuses its place', () => {
    const memory = new DeviceMemory(2);
    memory.set(APP, 'a', state(1));
    memory.set(APP, 'b', state(2));
    memory.delete(APP, 'a');
    memory.delete(APP, 'nobody');
    expect(memory.size).toBe(1);
    memory.set(APP, 'c', state(3));
    expect([has(memory, 'a'), has(memory, 'b'), has(memory, 'c')]).toEqual([false, true, true]);
    memory.set(APP, 'd', state(4)); // b was the least recently used
    expect([has(memory, 'b'), has(memory, 'c'), has(memory, 'd')]).toEqual([false, true, true]);
  });

  it('finds every device it keeps through any mix of sets, deletes and evictions', () => {
    // Small tables wrap their probes and move devices back on most removals: the cases a wrong move
    // would lose a device in. Ids drawn from a small pool, so devices come back after being forgotten.
    let seed = 42;
    const random = (below: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % below;
    };
    // A pool larger than the bound makes the memory forget; a smaller one must keep every device.
    for (const [max, pool] of [
      [1, 3],
      [2, 6],
      [5, 15],
      [50, 150],
      [64, 40],
      // Tables of hundreds of slots, grown by doubling.
      [2000, 6000],
      [4000, 3000],
    ] as const) {
      const memory = new DeviceMemory(max);
      const last = new Map<string, RememberedState>();
      for (let step = 0; step < 20_000; step++) {
        const device = `device-${random(pool)}`;
        const action = random(10);
        if (action < 5) {
          const written = state(step, random(2) === 0);
          memory.set(APP, device, written);
          last.set(device, written);
        } else if (action < 7) {
          memory.delete(APP, device);
          last.delete(device);
        } else {
          memory.get(APP, device);
        }
        if (step % 97 !== 0) continue;
        // Kept devices answer with their last state; forgotten ones with nothing; none is lost.
        let found = 0;
        const wrong: string[] = [];
        for (const [id, written] of last) {
          const got = memory.get(APP, id);
          if (got === undefined && pool > max) continue;
          // Compared by hand: an expect per device would take seconds.
          const same =
            got?.rest === written.rest &&
            got.version === written.version &&
            got.channel === written.channel &&
            got.at === written.at;
          if (!same) wrong.push(id);
          found++;
        }
        expect(wrong).toEqual([]);
        expect(found).toBe(memory.size);
        expect(memory.size).toBeLessThanOrEqual(max);
      }
    }
  });

  it('refuses a bound it cannot hold', () => {
    expect(() => new DeviceMemory(-1)).toThrow(RangeError);
    expect(() => new DeviceMemory(1.5)).toThrow(RangeError);
    expect(() => new DeviceMemory(2 ** 28)).toThrow(RangeError);
  });

  it('remembers nothing with a bound of 0', () => {
    const memory = new DeviceMemory(0);
    memory.set(APP, 'a', state(1));
    expect(memory.get(APP, 'a')).toBeUndefined();
    expect(memory.size).toBe(0);
  });
});
