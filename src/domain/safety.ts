import { DOWNLOAD_ACTIONS, INSTALL_ACTION, INSTALL_FAILURE_ACTIONS } from './device-events.js';

/**
 * Automatic safety: a release whose devices fail to start it is halted (its rollout stopped, or the
 * channel rolled back) once enough devices tried it and the share that failed reaches the channel's
 * threshold.
 */

/** A device "tried" a release when it downloaded it completely, activated it, or failed to start it. */
export const TRIED_ACTIONS = [INSTALL_ACTION, ...INSTALL_FAILURE_ACTIONS, DOWNLOAD_ACTIONS[0]!];

export interface SafetySettings {
  /** Failure share (0-1) that halts a release; null: never halt automatically. */
  failureThreshold: number | null;
  /** Devices that must have tried the release before it can be halted. */
  failureMinDevices: number;
}

/** Distinct devices of one release on one channel. */
export interface ReleaseHealth {
  tried: number;
  /** Devices that reported an install failure (update_fail or app_launch_timeout). */
  failed: number;
}

/** Whether the release must be halted. */
export function shouldHalt(settings: SafetySettings, health: ReleaseHealth): boolean {
  const { failureThreshold, failureMinDevices } = settings;
  if (failureThreshold === null || health.tried <= 0) return false;
  if (health.tried < Math.max(1, failureMinDevices)) return false;
  return health.failed / health.tried >= failureThreshold;
}

const percent = (rate: number) => `${Math.round(rate * 1000) / 10}%`;

/** The reason recorded in the channel history (and sent with the release.halted event). */
export function haltReason(version: string, settings: SafetySettings, health: ReleaseHealth): string {
  return (
    `automatic halt: ${health.failed} of ${health.tried} devices (${percent(health.failed / health.tried)}) ` +
    `failed to start ${version}; threshold ${percent(settings.failureThreshold ?? 0)} ` +
    `after ${settings.failureMinDevices} devices`
  );
}

/** The channel-history action of a bundle corrected in place (PATCH): a note, not a release. */
export const BUNDLE_EDITED = 'bundle_edited';

/** The channel-history action of a rollout schedule cancelled (by a manual change): a note too. */
export const SCHEDULE_CANCELLED = 'schedule_cancelled';

/** History entries that made nothing current. */
const NOTES: readonly string[] = [BUNDLE_EDITED, SCHEDULE_CANCELLED];

export interface HistoryEntry {
  id: number;
  action: string;
  /** The bundle the entry made live or rolled out. */
  version: string | null;
  at: string;
}

/**
 * Where the current release of `version` began, from the channel history (newest first): the newest
 * entry that made it current (set, rollout, rollback, halt, ...), moved back over the rollout steps
 * that led to it, so a rollout completed at 100 % is the same release as its first 10 %. Events
 * before it belong to an earlier release of the same bundle: one that was halted is not judged (and
 * halted) again on its old reports. Null when the history does not say (count everything).
 */
export function releaseStart(entries: readonly HistoryEntry[], version: string): HistoryEntry | null {
  // A note (a bundle's notes or minimum native version corrected, a schedule cancelled) made nothing current.
  const history = entries.filter((entry) => !NOTES.includes(entry.action));
  const newest = history.findIndex((entry) => entry.version === version);
  if (newest === -1) return null;
  let start = newest;
  while (history[start + 1]?.action === 'rollout' && history[start + 1]?.version === version) start += 1;
  return history[start]!;
}
