/**
 * Release health with confidence: a failure rate is a share of devices, and a share of 12 devices
 * says much less than a share of 12,000. Each rate comes with its 95% Wilson score interval, and the
 * evidence rule halts a release only when its interval lies wholly above its control group's.
 */

/** z for a two-sided 95% interval. */
const Z95 = 1.959963984540054;

export interface Interval {
  /** failed / devices (0 when no device). */
  rate: number;
  low: number;
  high: number;
}

/**
 * The Wilson score interval of `failed` out of `devices` (Wilson 1927): unlike the normal
 * approximation it stays within [0, 1] and is honest for small groups and rates near 0 or 1.
 * No device: nothing is known, [0, 1].
 */
export function wilson(failed: number, devices: number, z = Z95): Interval {
  if (devices <= 0) return { rate: 0, low: 0, high: 1 };
  const p = Math.min(1, Math.max(0, failed / devices));
  const z2 = z * z;
  const denominator = 1 + z2 / devices;
  const center = (p + z2 / (2 * devices)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / devices + z2 / (4 * devices * devices));
  // Rounding can put the bounds a hair outside [0, 1] or past p at the extremes.
  return {
    rate: p,
    low: p === 0 ? 0 : Math.max(0, center - half),
    high: p === 1 ? 1 : Math.min(1, center + half),
  };
}

/** One group of devices and how many of them failed the release they tried or ran. */
export interface GroupCounts {
  /** Distinct devices in the group. */
  devices: number;
  /** Distinct devices that reported a failure (failed to start, or failed to download). */
  failed: number;
}

export interface GroupHealth extends GroupCounts, Interval {
  version: string;
}

export function groupHealth(version: string, counts: GroupCounts): GroupHealth {
  return { version, ...counts, ...wilson(counts.failed, counts.devices) };
}

export type Verdict =
  /** Not enough devices in one of the groups to say anything. */
  | 'too_few_devices'
  /** The candidate's interval lies wholly above the control's: it fails more. */
  | 'worse'
  /** The intervals overlap, or the candidate's lies below: no evidence that it fails more. */
  | 'no_evidence';

/**
 * Compares a release (the candidate) with its control group: it is worse only when both groups
 * have at least `minDevices` devices and the candidate's 95% interval starts above the control's
 * end. Non-overlapping 95% intervals is a conservative test (stricter than a two-proportion test at
 * 5%): a halt is disruptive, so it needs clear evidence, and the rule stays one anyone can check.
 */
export function compareGroups(candidate: GroupHealth, control: GroupHealth, minDevices: number): Verdict {
  const needed = Math.max(1, minDevices);
  if (candidate.devices < needed || control.devices < needed) return 'too_few_devices';
  return candidate.low > control.high ? 'worse' : 'no_evidence';
}

const percent = (rate: number) => `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;

/** "3.2% [2.1%-4.8%] of 400 devices": a group's rate, interval and size, for reasons and tables. */
function describeGroup(group: GroupHealth): string {
  return (
    `${group.failed} of ${group.devices} devices (${percent(group.rate)}, ` +
    `95% CI ${percent(group.low)}-${percent(group.high)})`
  );
}

/** The reason recorded in the channel history and sent with release.halted. */
export function evidenceHaltReason(candidate: GroupHealth, control: GroupHealth): string {
  return (
    `automatic halt on evidence: ${candidate.version} failed on ${describeGroup(candidate)}; ` +
    `the control group on ${control.version} over the same hours failed on ${describeGroup(control)}; ` +
    'the 95% intervals do not overlap'
  );
}

/** Why the verdict is what it is, in a sentence (the health answer's `reason`). */
export function verdictReason(
  verdict: Verdict,
  candidate: GroupHealth,
  control: GroupHealth,
  minDevices: number,
): string {
  switch (verdict) {
    case 'worse':
      return evidenceHaltReason(candidate, control);
    case 'too_few_devices':
      return (
        `not enough devices to judge: ${candidate.version} has ${candidate.devices}, ` +
        `the control on ${control.version} ${control.devices}; each group needs ${Math.max(1, minDevices)}`
      );
    case 'no_evidence':
      return (
        `no evidence that ${candidate.version} fails more: ${describeGroup(candidate)} against ` +
        `${describeGroup(control)} on ${control.version}`
      );
  }
}
