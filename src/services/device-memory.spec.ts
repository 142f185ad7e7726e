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

  it('remembers nothing with a bound of 0', () => {
    const memory = new DeviceMemory(0);
    memory.set(APP, 'a', state(1));
    expect(memory.get(APP, 'a')).toBeUndefined();
    expect(memory.size).toBe(0);
  });
});
