/**
 * Retention: which of an app's bundles a cleanup deletes. A bundle goes when it is beyond the `keep`
 * newest (when `keep` is given) and older than the cutoff (when given), unless a channel can still
 * need it: live, rolling out, or the bundle a rollback (or the automatic halt) of the channel would
 * make live again. Those are kept whatever their age, and listed with why.
 */

export interface RetentionRule {
  /** Keep this many of the newest bundles (by upload order); undefined: no limit by number. */
  keep?: number;
  /** Keep bundles uploaded at or after this ISO time; undefined: no limit by age. */
  olderThan?: string;
}

export interface RetainedBundle {
  id: number;
  version: string;
  created_at: string;
}

/** What a channel can still need: its live bundle, its rollout's, and its rollback target. */
export interface ChannelNeeds {
  channel: string;
  live: number | null;
  rollout: number | null;
  /** The bundle a rollback of the channel makes live (ChannelsRepo.previousLiveBundleId). */
  rollbackTarget: number | null;
}

export interface RetentionPlan<B extends RetainedBundle> {
  /** Newest first. */
  remove: B[];
  /** Bundles the rule alone would remove, kept because a channel can still need them; newest first. */
  needed: { bundle: B; reasons: string[] }[];
}

/** Why each bundle must stay, by id: "live on production", "rollback target of beta", ... */
export function neededBundles(channels: readonly ChannelNeeds[]): Map<number, string[]> {
  const reasons = new Map<number, string[]>();
  const add = (id: number | null, reason: string) => {
    if (id === null) return;
    const list = reasons.get(id);
    if (list) list.push(reason);
    else reasons.set(id, [reason]);
  };
  for (const channel of channels) {
    add(channel.live, `live on ${channel.channel}`);
    add(channel.rollout, `rolling out on ${channel.channel}`);
    add(channel.rollbackTarget, `rollback target of ${channel.channel}`);
  }
  return reasons;
}

/**
 * The bundles to delete (and those kept only because a channel needs them). Without a limit (neither
 * `keep` nor `olderThan`) nothing is removed.
 */
export function planRetention<B extends RetainedBundle>(
  bundles: readonly B[],
  rule: RetentionRule,
  channels: readonly ChannelNeeds[],
): RetentionPlan<B> {
  const plan: RetentionPlan<B> = { remove: [], needed: [] };
  if (rule.keep === undefined && rule.olderThan === undefined) return plan;
  if (rule.keep !== undefined && !(Number.isInteger(rule.keep) && rule.keep >= 1))
    throw new RangeError(`keep must be a whole number from 1, not ${rule.keep}`);
  const needs = neededBundles(channels);
  const newestFirst = [...bundles].sort((a, b) => b.id - a.id);
  newestFirst.forEach((bundle, index) => {
    if (rule.keep !== undefined && index < rule.keep) return;
    if (rule.olderThan !== undefined && bundle.created_at >= rule.olderThan) return;
    const reasons = needs.get(bundle.id);
    if (reasons) plan.needed.push({ bundle, reasons });
    else plan.remove.push(bundle);
  });
  return plan;
}
