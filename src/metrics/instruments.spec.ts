import { describe, expect, it } from 'vitest';
import { BoundedCounter, BoundedHistogram } from './instruments.js';

describe('bounded instruments', () => {
  it('count values outside a label list as "other", and keep one child per label set', async () => {
    const counter = new BoundedCounter({ name: 'c_total', help: 'h', labels: { kind: ['a', 'b'] } });
    counter.child({ kind: 'a' }).inc();
    counter.child({ kind: 'a' }).inc(2);
    for (let i = 0; i < 1000; i++) counter.child({ kind: `hostile-${i}` }).inc();
    expect(counter.size).toBe(2);
    expect((await counter.get()).values).toEqual([
      { labels: { kind: 'a' }, value: 3 },
      { labels: { kind: 'other' }, value: 1000 },
    ]);
  });

  it('go back to zero when reset, keeping the children callers hold', async () => {
    const counter = new BoundedCounter({ name: 'c_total', help: 'h', labels: { kind: ['a'] } });
    const child = counter.child({ kind: 'a' });
    child.inc(5);
    counter.reset();
    child.inc();
    expect((await counter.get()).values).toEqual([{ labels: { kind: 'a' }, value: 1 }]);
  });

  it('take any value of a `distinct` label up to its limit, then "other"', async () => {
    const counter = new BoundedCounter({ name: 'c_total', help: 'h', labels: { route: { distinct: 3 } } });
    for (const route of ['/a', '/b', '/c', '/d', '/e', '/a']) counter.child({ route }).inc();
    const values = (await counter.get()).values.map((value) => [value.labels.route, value.value]);
    expect(values).toEqual([
      ['/a', 2],
      ['/b', 1],
      ['/c', 1],
      ['other', 2],
    ]);
  });

  it('give a histogram cumulative buckets up to +Inf, a sum and a count per label set', async () => {
    const histogram = new BoundedHistogram(
      { name: 'h_seconds', help: 'h', labels: { route: ['/x'] } },
      [0.1, 1],
    );
    const child = histogram.child({ route: '/x' });
    for (const value of [0.05, 0.1, 0.5, 2]) child.observe(value);
    const { type, values } = await histogram.get();
    expect(type).toBe('histogram');
    expect(values).toEqual([
      { labels: { route: '/x', le: 0.1 }, value: 2, metricName: 'h_seconds_bucket' },
      { labels: { route: '/x', le: 1 }, value: 3, metricName: 'h_seconds_bucket' },
      { labels: { route: '/x', le: '+Inf' }, value: 4, metricName: 'h_seconds_bucket' },
      { labels: { route: '/x' }, value: 2.65, metricName: 'h_seconds_sum' },
      { labels: { route: '/x' }, value: 4, metricName: 'h_seconds_count' },
    ]);
  });
});
