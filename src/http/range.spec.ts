import { describe, expect, it } from 'vitest';
import { parseRange } from './download.js';

describe('parseRange', () => {
  it('reads the three single-range forms', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
  });

  it('clamps an end past the file and a suffix longer than it', () => {
    expect(parseRange('bytes=10-5000', 1000)).toEqual({ start: 10, end: 999 });
    expect(parseRange('bytes=-5000', 1000)).toEqual({ start: 0, end: 999 });
  });

  it('refuses ranges that start past the end', () => {
    expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=1000-2000', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
    // The last zero bytes: valid, never satisfiable.
    expect(parseRange('bytes=-0', 1000)).toBe('unsatisfiable');
  });

  it('ignores an invalid range (first past last): the whole file, RFC 9110 §14.2', () => {
    expect(parseRange('bytes=10-5', 1000)).toBe('full');
    expect(parseRange('bytes=5000-10', 1000)).toBe('full');
  });

  it('reads the unit without regard to case, and spaces around the numbers', () => {
    expect(parseRange('Bytes=0-9', 1000)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes= 0 - 9', 1000)).toEqual({ start: 0, end: 9 });
  });

  it('serves the whole file for no, multiple or malformed ranges', () => {
    expect(parseRange(undefined, 1000)).toBe('full');
    expect(parseRange('bytes=0-1,5-6', 1000)).toBe('full');
    expect(parseRange('items=0-1', 1000)).toBe('full');
    expect(parseRange('bytes=-', 1000)).toBe('full');
    expect(parseRange('bytes=a-b', 1000)).toBe('full');
    expect(parseRange('bytes=0-1,x', 1000)).toBe('full');
    expect(parseRange('bytes', 1000)).toBe('full');
  });
});
