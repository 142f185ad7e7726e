/** Why a check was answered as it was, for the live view of a device (live-events.ts). */
import type { ChannelSource } from './decision.js';
import type { CheckAnswerSummary } from './live-events.js';

const SOURCE_WORDS: Record<ChannelSource, string> = {
  override: 'pinned to it by an admin',
  self_assigned: 'joined by the device (setChannel)',
  requested: 'asked for by the device (defaultChannel)',
  default: "the app's default channel",
};

/** The rollout a channel runs, as it applied to this device. */
export interface RolloutFacts {
  version: string;
  percent: number;
  /** The device falls in the rollout's slice. */
  inSlice: boolean;
}

/**
 * Why a check was answered as it was, in one sentence for a person: the channel and the rule that
 * picked it, the rollout's part, and the decision's own message for refusals.
 */
export function explainAnswer(
  answer: CheckAnswerSummary,
  context: { source?: ChannelSource; rollout?: RolloutFacts | null; currentVersion: string },
): string {
  if (answer.outcome === 'failed') return answer.message ?? 'No channel serves this device';
  const channel = `Channel "${answer.channel ?? ''}" (${context.source ? SOURCE_WORDS[context.source] : 'resolved'})`;
  const rollout = context.rollout
    ? context.rollout.inSlice
      ? `; the device is in the ${context.rollout.percent}% rollout of ${context.rollout.version}`
      : `; the device is outside the ${context.rollout.percent}% rollout of ${context.rollout.version}`
    : '';
  switch (answer.outcome) {
    case 'update':
      return `${channel} serves ${answer.version ?? '?'}${rollout}; the device runs ${context.currentVersion || 'its built-in bundle'}`;
    case 'up_to_date':
      return `${channel} serves what the device runs (${context.currentVersion || 'its built-in bundle'}) or nothing${rollout}`;
    case 'blocked':
      return `${channel}${rollout}: ${answer.message ?? answer.error ?? 'refused'}`;
  }
}
