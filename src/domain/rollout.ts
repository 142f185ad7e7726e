import { createHash } from 'node:crypto';

/** Rollout buckets: 10,000 of them, so percentages down to 0.01 % are exact. */
const BUCKETS = 10_000;

/**
 * A device's place in a release's rollout, from 0 to 99.99: a hash of the device id together with
 * the release, so each release picks a different slice of the fleet (the same devices are not the
 * first to get every release), and a device's place never changes for a given release, so raising
 * the percentage only ever adds devices.
 */
export function rolloutBucket(deviceId: string, release: string): number {
  const digest = createHash('sha256').update(`${release}\n${deviceId}`).digest();
  return (digest.readUInt32BE(0) % BUCKETS) / (BUCKETS / 100);
}

/** Whether the device is among the first `percent` % of the release's rollout. */
export function inRollout(deviceId: string, release: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return rolloutBucket(deviceId, release) < percent;
}
