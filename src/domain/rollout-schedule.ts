import ms from 'ms';
import { durationSeconds } from '../duration.js';

/**
 * Scheduled rollouts (docs/release-control.md#scheduled-rollouts): a rollout given as steps such as
 * `1%:1h,10%:6h,50%:24h,100%`. Each step serves the release to a share of the channel's devices for
 * a time; when the time is up and the release is healthy, the next step starts; the last step, 100 %,
 * completes the rollout. This module holds the rules; the service runs them.
 */

export interface RolloutStep {
  /** Share of the channel's devices, 1-100. */
  percent: number;
  /** How long the step lasts before the next one may start; null for the last step (100 %). */
  seconds: number | null;
}

/** Bounds: enough for any sensible ramp, small enough that no schedule is a chore to read. */
export const MAX_STEPS = 10;
const MAX_STEP_SECONDS = 30 * 86_400;
const MAX_TEXT = 200;

export type StepsResult = { ok: true; steps: RolloutStep[] } | { ok: false; problem: string };

const fail = (problem: string): StepsResult => ({ ok: false, problem });

/** A step's duration, e.g. `90m`, `6h`, `1d` (read as the settings' durations are), in whole seconds. */
function durationOf(text: string): number | string {
  // ms reads a bare number as milliseconds: almost certainly not what was meant, so say so.
  if (/^\d+(\.\d+)?$/.test(text)) return `"${text}" needs a unit, e.g. ${text}m or ${text}h`;
  const exact = durationSeconds(text, 1);
  if (Number.isNaN(exact)) return `"${text}" is not a duration (e.g. 30m, 6h, 1d)`;
  const seconds = Math.round(exact);
  if (seconds < 1) return `"${text}" is shorter than 1s`;
  if (seconds > MAX_STEP_SECONDS) return `"${text}" is longer than 30d`;
  return seconds;
}

/**
 * Reads steps written as `PERCENT%:DURATION,...,100%`: percentages whole, from 1 to 100, strictly
 * increasing, the last one 100 (which completes the rollout and so has no duration), at least two
 * steps and at most MAX_STEPS. The problem, when there is one, names the step at fault.
 */
export function parseRolloutSteps(text: string): StepsResult {
  const trimmed = text.trim();
  if (trimmed === '') return fail('no steps: give them as 1%:1h,10%:6h,100%');
  if (trimmed.length > MAX_TEXT) return fail(`steps longer than ${MAX_TEXT} characters`);
  const parts = trimmed.split(',').map((part) => part.trim());
  if (parts.length < 2)
    return fail(
      'a schedule needs at least two steps, the last 100% (to release at once, make the bundle live)',
    );
  if (parts.length > MAX_STEPS) return fail(`at most ${MAX_STEPS} steps`);
  const steps: RolloutStep[] = [];
  for (const [index, part] of parts.entries()) {
    const at = `step ${index + 1} ("${part}")`;
    const last = index === parts.length - 1;
    const match = /^(\d+)\s*%?\s*(?::\s*(.+))?$/.exec(part);
    if (!match) return fail(`${at}: expected PERCENT%:DURATION, e.g. 10%:6h`);
    const percent = Number(match[1]);
    if (percent < 1 || percent > 100) return fail(`${at}: the percentage must be from 1 to 100`);
    const previous = steps[steps.length - 1];
    if (previous && percent <= previous.percent)
      return fail(`${at}: percentages must increase (${previous.percent}% comes before)`);
    if (last) {
      if (percent !== 100) return fail(`${at}: the last step must be 100%`);
      if (match[2] !== undefined)
        return fail(`${at}: the last step completes the rollout and takes no duration`);
      steps.push({ percent, seconds: null });
      continue;
    }
    if (percent === 100) return fail(`${at}: only the last step may be 100%`);
    if (match[2] === undefined) return fail(`${at}: how long? e.g. ${percent}%:6h`);
    const seconds = durationOf(match[2].trim());
    if (typeof seconds === 'string') return fail(`${at}: ${seconds}`);
    steps.push({ percent, seconds });
  }
  return { ok: true, steps };
}

/** The steps as they are written: `1%:1h,10%:6h,100%`. */
export function formatRolloutSteps(steps: readonly RolloutStep[]): string {
  return steps
    .map((step) =>
      step.seconds === null ? `${step.percent}%` : `${step.percent}%:${ms(step.seconds * 1000)}`,
    )
    .join(',');
}

/** When the step that started at `startedAtMs` ends (the next may start); null for the last step. */
export function stepEndsAt(step: RolloutStep, startedAtMs: number): number | null {
  return step.seconds === null ? null : startedAtMs + step.seconds * 1000;
}

/** What a running schedule is due for at `nowMs`: nothing yet, or the step after `current`. */
export function dueStep(
  steps: readonly RolloutStep[],
  current: number,
  startedAtMs: number,
  nowMs: number,
): { index: number; step: RolloutStep; completes: boolean } | null {
  const step = steps[current];
  const next = steps[current + 1];
  if (!step || !next) return null;
  const endsAt = stepEndsAt(step, startedAtMs);
  if (endsAt === null || nowMs < endsAt) return null;
  return { index: current + 1, step: next, completes: current + 1 === steps.length - 1 };
}
