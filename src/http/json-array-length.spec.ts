import { describe, expect, it } from 'vitest';
import { arrayLongerThan } from './json-array-length.js';

describe('arrayLongerThan', () => {
  const array = (count: number, item = '{"a":1}') =>
    `[${Array.from({ length: count }, () => item).join(',')}]`;

  it('counts top-level items only', () => {
    expect(arrayLongerThan(array(3), 3)).toBe(false);
    expect(arrayLongerThan(array(4), 3)).toBe(true);
    expect(arrayLongerThan(array(3, '{"a":[1,2,3,4,5],"b":{"c":[6,7]}}'), 3)).toBe(false);
    expect(arrayLongerThan(`  \n${array(201, '{}')}`, 200)).toBe(true);
  });

  it('does not count commas inside strings, escaped quotes included', () => {
    expect(arrayLongerThan(array(2, '{"s":"a,b,c,\\",d,e"}'), 2)).toBe(false);
    expect(arrayLongerThan(array(3, '"x\\\\"'), 3)).toBe(false);
    expect(arrayLongerThan(array(4, '"x\\\\"'), 3)).toBe(true);
  });

  it('is false for what is not an array', () => {
    expect(arrayLongerThan('{"a":[1,2,3,4]}', 1)).toBe(false);
    expect(arrayLongerThan('', 1)).toBe(false);
    expect(arrayLongerThan('"1,2,3"', 1)).toBe(false);
  });

  it('agrees with JSON.parse on arrays of every kind of value', () => {
    const items = ['1', '"a,b"', 'null', '[1,[2,3]]', '{"k":"v,]"}', 'true', '-1.5e3'];
    for (let count = 0; count <= items.length; count++) {
      const text = `[${items.slice(0, count).join(' , ')}]`;
      const parsed = JSON.parse(text) as unknown[];
      expect(parsed).toHaveLength(count);
      expect(arrayLongerThan(text, count)).toBe(false);
      if (count > 0) expect(arrayLongerThan(text, count - 1)).toBe(true);
    }
  });
});
