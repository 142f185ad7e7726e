import { describe, expect, it } from 'vitest';
import { compareGroups, evidenceHaltReason, groupHealth, verdictReason, wilson } from './release-health.js';

describe('wilson', () => {
  // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3
  // (the score interval without continuity correction), to the four decimals it prints.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i of %i: [%f, %f] (Newcombe 1998)', (failed, devices, low, high) => {
    const interval = wilson(failed, devices);
    expect(interval.rate).toBeCloseTo(failed / devices, 10);
    expect(interval.low).toBeCloseTo(low, 4);
    expect(interval.high).toBeCloseTo(high, 4);
  });

  it('stays within [0, 1] at the extremes, and says nothing of no device', () => {
    expect(wilson(10, 10)).toEqual({ rate: 1, low: expect.closeTo(0.7225, 4), high: 1 });
    expect(wilson(0, 1)).toEqual({ rate: 0, low: 0, high: expect.closeTo(0.7935, 4) });
    expect(wilson(0, 0)).toEqual({ rate: 0, low: 0, high: 1 });
  });

  it('narrows as the group grows, around the same rate', () => {
    const small = wilson(5, 100);
    const large = wilson(500, 10_000);
    expect(large.high - large.low).toBeLessThan((small.high - small.low) / 5);
    expect(large.low).toBeLessThan(0.05);
    expect(large.high).toBeGreaterThan(0.05);
  });
});

describe('compareGroups', () => {
  const group = (version: string, failed: number, devices: number) =>
    groupHealth(version, { failed, devices });

  it('is worse only when the intervals do not overlap, the candidate above', () => {
    // 40 of 200 [15.0%, 26.1%] against 5 of 400 [0.5%, 2.9%].
    expect(compareGroups(group('1.1.0', 40, 200), group('1.0.0', 5, 400), 50)).toBe('worse');
    // 8 of 200 [2.0%, 7.7%] against 5 of 400: the intervals overlap.
    expect(compareGroups(group('1.1.0', 8, 200), group('1.0.0', 5, 400), 50)).toBe('no_evidence');
    // Better than the control is never worse.
    expect(compareGroups(group('1.1.0', 0, 400), group('1.0.0', 40, 200), 50)).toBe('no_evidence');
  });

  it('needs the minimum of devices in both groups', () => {
    expect(compareGroups(group('1.1.0', 40, 49), group('1.0.0', 0, 400), 50)).toBe('too_few_devices');
    expect(compareGroups(group('1.1.0', 40, 200), group('1.0.0', 0, 49), 50)).toBe('too_few_devices');
    // A minimum of 0 still needs one device in each.
    expect(compareGroups(group('1.1.0', 1, 1), group('1.0.0', 0, 0), 0)).toBe('too_few_devices');
  });

  it('says why, with both rates and intervals', () => {
    const candidate = group('1.1.0', 40, 200);
    const control = group('1.0.0', 5, 400);
    expect(evidenceHaltReason(candidate, control)).toBe(
      'automatic halt on evidence: 1.1.0 failed on 40 of 200 devices (20.0%, 95% CI 15.0%-26.1%); ' +
        'the control group on 1.0.0 over the same hours failed on 5 of 400 devices (1.3%, 95% CI 0.5%-2.9%); ' +
        'the 95% intervals do not overlap',
    );
    expect(verdictReason('too_few_devices', candidate, control, 500)).toBe(
      'not enough devices to judge: 1.1.0 has 200, the control on 1.0.0 400; each group needs 500',
    );
    expect(verdictReason('no_evidence', control, candidate, 50)).toMatch(
      /^no evidence that 1\.0\.0 fails more/,
    );
  });
});
