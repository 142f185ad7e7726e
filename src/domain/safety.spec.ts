import { describe, expect, it } from 'vitest';
import { haltReason, releaseStart, shouldHalt, TRIED_ACTIONS, type HistoryEntry } from './safety.js';

const settings = { failureThreshold: 0.2, failureMinDevices: 50 };

describe('automatic halt rule', () => {
  it('never halts without a threshold', () => {
    expect(shouldHalt({ failureThreshold: null, failureMinDevices: 1 }, { tried: 100, failed: 100 })).toBe(
      false,
    );
  });

  it('waits until enough devices tried the release', () => {
    expect(shouldHalt(settings, { tried: 49, failed: 49 })).toBe(false);
    expect(shouldHalt(settings, { tried: 50, failed: 10 })).toBe(true);
  });

  it('halts when the failure share reaches the threshold, not below it', () => {
    expect(shouldHalt(settings, { tried: 1000, failed: 199 })).toBe(false);
    expect(shouldHalt(settings, { tried: 1000, failed: 200 })).toBe(true);
    expect(shouldHalt(settings, { tried: 1000, failed: 900 })).toBe(true);
    expect(shouldHalt({ failureThreshold: 1, failureMinDevices: 1 }, { tried: 3, failed: 2 })).toBe(false);
    expect(shouldHalt({ failureThreshold: 1, failureMinDevices: 1 }, { tried: 3, failed: 3 })).toBe(true);
  });

  it('never divides by zero', () => {
    expect(shouldHalt({ failureThreshold: 0.1, failureMinDevices: 0 }, { tried: 0, failed: 0 })).toBe(false);
  });

  it('says why in the reason', () => {
    expect(haltReason('1.2.0', settings, { tried: 80, failed: 20 })).toBe(
      'automatic halt: 20 of 80 devices (25%) failed to start 1.2.0; threshold 20% after 50 devices',
    );
  });

  it('counts downloads, activations and install failures as tries', () => {
    expect([...TRIED_ACTIONS].sort()).toEqual([
      'app_launch_timeout',
      'download_complete',
      'set',
      'update_fail',
    ]);
  });
});

describe('start of the current release', () => {
  let id = 100;
  const entry = (action: string, version: string | null): HistoryEntry => ({
    id: id--,
    action,
    version,
    at: `2026-01-01T00:00:${String(id % 60).padStart(2, '0')}.000Z`,
  });

  it('goes back over the rollout steps that led to a completed release', () => {
    const history = [
      entry('set', '1.2.0'),
      entry('rollout', '1.2.0'),
      entry('rollout', '1.2.0'),
      entry('set', '1.1.0'),
    ];
    expect(releaseStart(history, '1.2.0')).toBe(history[2]);
    expect(releaseStart(history, '1.1.0')).toBe(history[3]);
  });

  it('starts a new release when a halted bundle is released again', () => {
    const history = [entry('rollout', '1.2.0'), entry('halt', '1.1.0'), entry('rollout', '1.2.0')];
    expect(releaseStart(history, '1.2.0')).toBe(history[0]);
    // The halt made 1.1.0 current again: its window starts there.
    expect(releaseStart(history, '1.1.0')).toBe(history[1]);
  });

  it('does not start a release at a note that the bundle was corrected', () => {
    const history = [
      entry('bundle_edited', '1.2.0'),
      entry('set', '1.2.0'),
      entry('bundle_edited', '1.2.0'),
      entry('rollout', '1.2.0'),
      entry('set', '1.1.0'),
    ];
    expect(releaseStart(history, '1.2.0')).toBe(history[3]);
  });

  it('goes back over a cancelled schedule: a manual step after scheduled ones is the same release', () => {
    const history = [
      entry('rollout', '1.2.0'),
      entry('schedule_cancelled', null),
      entry('rollout', '1.2.0'),
      entry('set', '1.1.0'),
    ];
    expect(releaseStart(history, '1.2.0')).toBe(history[2]);
  });

  it('is null when the history does not name the bundle', () => {
    expect(releaseStart([entry('set', '1.0.0')], '2.0.0')).toBeNull();
    expect(releaseStart([], '2.0.0')).toBeNull();
  });
});
