import { describe, expect, it } from 'vitest';
import { dueStep, formatRolloutSteps, MAX_STEPS, parseRolloutSteps } from './rollout-schedule.js';

const problemOf = (text: string) => {
  const result = parseRolloutSteps(text);
  return result.ok ? 'accepted' : result.problem;
};

describe('rollout steps', () => {
  it('reads the steps of the guide, durations in seconds, the last without one', () => {
    expect(parseRolloutSteps('1%:1h,10%:6h,50%:24h,100%')).toEqual({
      ok: true,
      steps: [
        { percent: 1, seconds: 3600 },
        { percent: 10, seconds: 6 * 3600 },
        { percent: 50, seconds: 24 * 3600 },
        { percent: 100, seconds: null },
      ],
    });
  });

  it('takes spaces, a missing % and the duration spellings of the ms package', () => {
    expect(parseRolloutSteps(' 5 : 90m , 25%: 1.5h, 60:2 days ,100 ')).toEqual({
      ok: true,
      steps: [
        { percent: 5, seconds: 5400 },
        { percent: 25, seconds: 5400 },
        { percent: 60, seconds: 2 * 86_400 },
        { percent: 100, seconds: null },
      ],
    });
  });

  it('refuses percentages that do not increase, leave 1-100, or do not end at 100', () => {
    expect(problemOf('10%:1h,10%:1h,100%')).toBe(
      'step 2 ("10%:1h"): percentages must increase (10% comes before)',
    );
    expect(problemOf('50%:1h,10%:1h,100%')).toMatch(/step 2 .*must increase/);
    expect(problemOf('0%:1h,100%')).toBe('step 1 ("0%:1h"): the percentage must be from 1 to 100');
    expect(problemOf('10%:1h,101%')).toMatch(/step 2 .*from 1 to 100/);
    expect(problemOf('10%:1h,50%:1h')).toBe('step 2 ("50%:1h"): the last step must be 100%');
    expect(problemOf('100%:1h,100%')).toMatch(/step 1 .*only the last step may be 100%/);
    expect(problemOf('-5%:1h,100%')).toMatch(/step 1 .*expected PERCENT%:DURATION/);
    expect(problemOf('2.5%:1h,100%')).toMatch(/step 1 .*expected PERCENT%:DURATION/);
  });

  it('refuses durations missing, unreadable, unitless, too short or too long, and one on the last step', () => {
    expect(problemOf('10%,100%')).toBe('step 1 ("10%"): how long? e.g. 10%:6h');
    expect(problemOf('10%:soon,100%')).toBe(
      'step 1 ("10%:soon"): "soon" is not a duration (e.g. 30m, 6h, 1d)',
    );
    expect(problemOf('10%:60,100%')).toBe('step 1 ("10%:60"): "60" needs a unit, e.g. 60m or 60h');
    expect(problemOf('10%:200ms,100%')).toMatch(/shorter than 1s/);
    expect(problemOf('10%:-1h,100%')).toMatch(/shorter than 1s/);
    expect(problemOf('10%:31d,100%')).toMatch(/longer than 30d/);
    expect(problemOf('10%:1h,100%:1h')).toMatch(/step 2 .*takes no duration/);
  });

  it('refuses no steps, a single step, too many steps and endless text', () => {
    expect(problemOf('')).toMatch(/no steps/);
    expect(problemOf('100%')).toMatch(/at least two steps/);
    const many = Array.from({ length: MAX_STEPS }, (_, i) => `${i + 1}%:1h`)
      .concat('100%')
      .join(',');
    expect(problemOf(many)).toBe(`at most ${MAX_STEPS} steps`);
    expect(problemOf(`${'1'.repeat(300)}%:1h,100%`)).toMatch(/longer than 200 characters/);
    expect(problemOf('10%:1h,,100%')).toMatch(/step 2/);
  });

  it('writes steps back as they are read', () => {
    const result = parseRolloutSteps('1%:1h,10%:6h,50%:1d,100%');
    expect(result.ok && formatRolloutSteps(result.steps)).toBe('1%:1h,10%:6h,50%:1d,100%');
  });
});

describe('when a step is due', () => {
  const steps = [
    { percent: 10, seconds: 60 },
    { percent: 50, seconds: 120 },
    { percent: 100, seconds: null },
  ];

  it('waits until the current step has lasted its time, to the millisecond', () => {
    expect(dueStep(steps, 0, 1_000, 60_999)).toBeNull();
    expect(dueStep(steps, 0, 1_000, 61_000)).toEqual({ index: 1, step: steps[1], completes: false });
  });

  it('the step before the last one leads to completion, and nothing follows the last', () => {
    expect(dueStep(steps, 1, 0, 120_000)).toEqual({ index: 2, step: steps[2], completes: true });
    expect(dueStep(steps, 2, 0, 10 ** 12)).toBeNull();
  });

  it('one step at a time, however late: a schedule resumed after hours still goes through each step', () => {
    expect(dueStep(steps, 0, 0, 10 ** 9)?.index).toBe(1);
  });
});
