import { describe, expect, it } from 'vitest';
import { inRollout, rolloutBucket } from './rollout.js';

const devices = Array.from({ length: 20_000 }, (_, i) => `device-${i}`);

describe('rollout buckets', () => {
  it('puts about the given share of devices in the rollout', () => {
    for (const percent of [1, 10, 50, 90]) {
      const share = devices.filter((id) => inRollout(id, 'app:1.0.0', percent)).length / devices.length;
      expect(share).toBeGreaterThan(percent / 100 - 0.01);
      expect(share).toBeLessThan(percent / 100 + 0.01);
    }
  });

  it('only ever adds devices when the percentage rises', () => {
    let previous = new Set<string>();
    for (const percent of [0, 5, 10, 25, 50, 99, 100]) {
      const current = new Set(devices.filter((id) => inRollout(id, 'app:2.0.0', percent)));
      for (const id of previous) expect(current.has(id)).toBe(true);
      previous = current;
    }
    expect(previous.size).toBe(devices.length);
  });

  it('picks a different slice of the fleet for each release', () => {
    const first = new Set(devices.filter((id) => inRollout(id, 'app:1.0.0', 10)));
    const second = devices.filter((id) => inRollout(id, 'app:1.0.1', 10));
    const overlap = second.filter((id) => first.has(id)).length / second.length;
    // Independent 10 % slices overlap by about 10 %, not 100 %.
    expect(overlap).toBeLessThan(0.2);
  });

  it('is stable and within 0 to 100', () => {
    expect(rolloutBucket('abc', 'r')).toBe(rolloutBucket('abc', 'r'));
    for (const id of devices.slice(0, 1000)) {
      const bucket = rolloutBucket(id, 'r');
      expect(bucket).toBeGreaterThanOrEqual(0);
      expect(bucket).toBeLessThan(100);
    }
  });
});
