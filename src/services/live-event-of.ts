import { resolveChannel, type UpdateDecision } from '../domain/decision.js';
import { categoryOf } from '../domain/device-events.js';
import type { CheckAnswerSummary, LiveEvent } from '../domain/live-events.js';
import { explainAnswer } from '../domain/live-reason.js';
import { currentBundleVersion } from '../domain/plugin.js';
import { inRollout } from '../domain/rollout.js';
import type { DeviceInfo } from './device-info.js';
import { assignmentOf, type AppRelease, type LiveBundle } from './release-cache.js';
import type { PreparedEvent } from './stats.js';

/**
 * An update check as a live event: what the device sent, what it was answered, and why. Built only
 * for watched devices, so it may take its time (it resolves the channel again to say by which rule).
 */
export function checkEvent(
  info: DeviceInfo,
  decision: UpdateDecision<LiveBundle>,
  release: AppRelease,
): LiveEvent {
  const answer: CheckAnswerSummary = { outcome: decision.outcome };
  if ('channel' in decision) answer.channel = decision.channel;
  if (decision.outcome === 'update') answer.version = decision.bundle.version;
  if (decision.outcome === 'blocked' && decision.bundle) answer.version = decision.bundle.version;
  if (decision.outcome !== 'update') {
    answer.error = decision.error;
    answer.message = decision.message;
  }
  const resolved = resolveChannel(release.channels, {
    ...assignmentOf(release, info.device_id),
    requested: info.defaultChannel,
  });
  const rollout = resolved?.channel.rollout;
  const sent: Extract<LiveEvent, { kind: 'check' }>['sent'] = {
    platform: info.platform,
    version_name: info.version_name,
    version_build: info.version_build,
    version_code: info.version_code,
    version_os: info.version_os,
    plugin_version: info.plugin_version,
    custom_id: info.custom_id,
    default_channel: info.defaultChannel,
    is_emulator: info.is_emulator,
    is_prod: info.is_prod,
  };
  if (info.key_id !== undefined) sent.key_id = info.key_id;
  return {
    kind: 'check',
    app_id: info.app_id,
    device_id: info.device_id,
    at: new Date().toISOString(),
    sent,
    answer,
    reason: explainAnswer(answer, {
      source: resolved?.source,
      rollout: rollout
        ? {
            version: rollout.bundle.version,
            percent: rollout.percent,
            inSlice: inRollout(info.device_id, rollout.bundle.version, rollout.percent),
          }
        : null,
      currentVersion: currentBundleVersion(info.version_name, info.version_build),
    }),
  };
}

/** A stats event (committed) as a live event: a download, or another device event. */
export function deviceEvent({ info, event, channel }: PreparedEvent): LiveEvent {
  const category = categoryOf(event.action);
  return {
    kind: category === 'download' || category === 'download_failure' ? 'download' : 'event',
    app_id: info.app_id,
    device_id: info.device_id,
    at: new Date().toISOString(),
    action: event.action,
    version_name: event.version_name,
    old_version_name: event.old_version_name,
    channel,
  };
}
