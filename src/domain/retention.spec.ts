import { describe, expect, it } from 'vitest';
import { neededBundles, planRetention, type ChannelNeeds } from './retention.js';

/** Bundles 1..n, uploaded a day apart (bundle n on day n of January). */
const bundles = (n: number) =>
  Array.from({ length: n }, (_, index) => ({
    id: index + 1,
    version: `1.${index + 1}.0`,
    created_at: `2026-01-${String(index + 1).padStart(2, '0')}T00:00:00.000Z`,
  }));
const versions = (list: { version: string }[]) => list.map((bundle) => bundle.version);
const production: ChannelNeeds = { channel: 'production', live: 3, rollout: null, rollbackTarget: 2 };

describe('retention plan', () => {
  it('removes nothing without a limit', () => {
    expect(planRetention(bundles(5), {}, [])).toEqual({ remove: [], needed: [] });
  });

  it('keeps the newest N by upload order, and what a channel can still need', () => {
    const plan = planRetention(bundles(8), { keep: 3 }, [production]);
    expect(versions(plan.remove)).toEqual(['1.5.0', '1.4.0', '1.1.0']);
    expect(plan.needed.map(({ bundle, reasons }) => [bundle.version, reasons])).toEqual([
      ['1.3.0', ['live on production']],
      ['1.2.0', ['rollback target of production']],
    ]);
  });

  it('removes only bundles older than the cutoff, and with both limits, those beyond both', () => {
    const cutoff = '2026-01-04T00:00:00.000Z';
    expect(versions(planRetention(bundles(6), { olderThan: cutoff }, []).remove)).toEqual([
      '1.3.0',
      '1.2.0',
      '1.1.0',
    ]);
    // 1.3.0 is old enough but among the 4 newest.
    expect(versions(planRetention(bundles(6), { olderThan: cutoff, keep: 4 }, []).remove)).toEqual([
      '1.2.0',
      '1.1.0',
    ]);
  });

  it('keeps rollouts and every channel’s needs, with every reason', () => {
    const beta: ChannelNeeds = { channel: 'beta', live: 2, rollout: 1, rollbackTarget: null };
    const plan = planRetention(bundles(4), { keep: 1 }, [production, beta]);
    expect(plan.remove).toEqual([]);
    expect(neededBundles([production, beta]).get(2)).toEqual([
      'rollback target of production',
      'live on beta',
    ]);
    expect(plan.needed.find(({ bundle }) => bundle.id === 1)?.reasons).toEqual(['rolling out on beta']);
  });

  it('refuses a keep below 1', () => {
    expect(() => planRetention(bundles(2), { keep: 0 }, [])).toThrow(RangeError);
  });
});
