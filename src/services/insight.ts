import semver from 'semver';
import type { AdoptionJson, GroupHealthJson, ReleaseHealthJson } from '../api-types.js';
import type { Repos } from '../db/index.js';
import type { ChannelHistoryRow, ChannelRow } from '../db/schema.js';
import type { Bucket } from '../db/stats.js';
import {
  compareGroups,
  groupHealth,
  verdictReason,
  type GroupCounts,
  type GroupHealth,
  type Verdict,
} from '../domain/release-health.js';
import { haltReason, releaseStart, shouldHalt } from '../domain/safety.js';
import { errors } from '../errors.js';
import type { DeviceActivity } from './device-activity.js';
import { requireApp } from './require.js';
import { statsPeriod } from './stats.js';

/** History entries read to find where a release (and the one before it) began. */
const HISTORY_DEPTH = 100;
const HOUR_MS = 3_600_000;
const BUCKET_MS: Record<Bucket, number> = { hour: HOUR_MS, day: 24 * HOUR_MS };
const BUCKET_LENGTH: Record<Bucket, number> = { hour: 13, day: 10 };
const BUCKET_SUFFIX: Record<Bucket, string> = { hour: ':00:00.000Z', day: 'T00:00:00.000Z' };

/**
 * Lets the event loop run what waits (update checks) between two reads: on SQLite a statement runs
 * on the loop, and release insight's reads at a million devices take tens of ms each (one after the
 * other, not all at once: PostgreSQL's concurrency is not worth holding SQLite's loop for their sum).
 */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A rollout judged by the evidence rule: both groups, the verdict, and what identifies the release. */
export interface Evidence {
  verdict: Verdict;
  candidate: GroupHealth & { since: string };
  control: GroupHealth & { since: string };
  /** The bundle being rolled out, and the history entry its rollout began with. */
  bundleId: number;
  startId: number;
}

/** The start of the bucket `at` falls in, as ISO text. */
function bucketOf(at: string, bucket: Bucket): string {
  return at.slice(0, BUCKET_LENGTH[bucket]) + BUCKET_SUFFIX[bucket];
}

/** Every bucket start from the one `since` falls in to the one `until` falls in, oldest first. */
function bucketsBetween(since: string, until: string, bucket: Bucket): string[] {
  const first = Date.parse(bucketOf(since, bucket));
  const last = Date.parse(bucketOf(until, bucket));
  const buckets: string[] = [];
  for (let at = first; at <= last; at += BUCKET_MS[bucket]) buckets.push(new Date(at).toISOString());
  return buckets;
}

/** Newest version first: by semver when both are, else semver ones first, then by name. */
function newestFirst(a: string, b: string): number {
  const [va, vb] = [semver.valid(a), semver.valid(b)];
  if (va && vb) return semver.rcompare(va, vb);
  if (va || vb) return va ? -1 : 1;
  return b.localeCompare(a);
}

function groupJson(group: GroupHealth, since: string | null, until: string | null = null): GroupHealthJson {
  const { version, devices, failed, rate, low, high } = group;
  return { version, devices, failed, rate, low, high, since, until };
}

/**
 * Release insight over what devices already report: adoption (devices per bundle over time, and a
 * release's installs since it went live) and release health (failure rates with their 95% Wilson
 * intervals, against the release replaced and, during a rollout, against a control group). Kept
 * within the statistics retention: older events are gone, so nothing before it is claimed.
 */
export class InsightService {
  constructor(
    private readonly repos: Repos,
    private readonly activity: DeviceActivity,
    /** OVERAIR_STATS_RETENTION_DAYS (0: kept forever). */
    private readonly retentionDays = 0,
  ) {}

  private retentionStart(now: Date): string | null {
    return this.retentionDays > 0
      ? new Date(now.getTime() - this.retentionDays * 24 * HOUR_MS).toISOString()
      : null;
  }

  private async channel(appId: string, name: string): Promise<ChannelRow> {
    const channel = await this.repos.channels.find(appId, name);
    if (channel) return channel;
    await requireApp(this.repos, appId);
    throw errors.channelNotFound({ appId, channel: name });
  }

  private async versionOf(bundleId: number | null): Promise<{ id: number; version: string } | null> {
    if (bundleId === null) return null;
    return (await this.repos.bundles.findById(bundleId)) ?? null;
  }

  /**
   * Devices on each bundle at the end of each bucket since `since`, and the release's cumulative
   * installs. The counts are rebuilt backwards from what devices run now (counts the database keeps:
   * a few rows per bundle and hour, whatever the fleet): each bucket's installs on the channel (from
   * one bundle to another) are undone, and devices first seen in a bucket are taken off the bundle
   * they arrived with. A device that changed channels counts where it is now, its arrival with it,
   * its installs where it made them (counts never go below 0).
   */
  async adoption(
    appId: string,
    name: string,
    input: { bucket?: Bucket; since?: string; version?: string },
    now: Date = new Date(),
  ): Promise<AdoptionJson> {
    const channel = await this.channel(appId, name);
    const period = statsPeriod({ since: input.since, bucket: input.bucket }, now);
    const bucket = period.bucket;
    const retained = this.retentionStart(now);
    const wanted = retained !== null && period.since < retained ? retained : period.since;
    const since = bucketOf(wanted, bucket);
    const until = now.toISOString();
    // Reports still queued would make installs and devices that just arrived look missing.
    await this.activity.flush();

    // One read after the other, the event loop's turn between them (see `turn`).
    const running = await this.repos.insight.runningNow(appId, channel.name);
    await turn();
    const moves = await this.repos.insight.installMoves(appId, channel.name, since, bucket);
    await turn();
    const arrivals = await this.repos.insight.newDevices(appId, channel.name, since, bucket);
    await turn();
    // Per bucket, what happened in it: devices moved (installs) and devices that appeared.
    const changes = new Map<string, Map<string, number>>();
    const change = (at: string, version: string, delta: number) => {
      const key = at + BUCKET_SUFFIX[bucket];
      const entry = changes.get(key) ?? new Map<string, number>();
      entry.set(version, (entry.get(version) ?? 0) + delta);
      changes.set(key, entry);
    };
    for (const move of moves) {
      change(move.bucket, move.to, move.devices);
      change(move.bucket, move.from, -move.devices);
    }
    for (const arrival of arrivals) change(arrival.bucket!, arrival.version, arrival.devices);

    const state = new Map(running.map((row) => [row.version, row.devices]));
    const seen = new Set<string>();
    const points: AdoptionJson['points'] = [];
    for (const at of bucketsBetween(since, until, bucket).reverse()) {
      const devices: Record<string, number> = {};
      for (const [version, count] of state) {
        if (count <= 0) continue;
        devices[version] = count;
        seen.add(version);
      }
      points.push({ at, devices });
      // Undo this bucket: the state at the end of the bucket before.
      for (const [version, delta] of changes.get(at) ?? [])
        state.set(version, (state.get(version) ?? 0) - delta);
    }
    points.reverse();

    return {
      app_id: appId,
      channel: channel.name,
      bucket,
      since,
      until,
      versions: [...seen].sort(newestFirst),
      points,
      release: await this.releaseInstalls(channel, input.version, { since, until, bucket, retained }),
    };
  }

  /** Distinct devices that installed the release since it went live, cumulative per bucket of the period. */
  private async releaseInstalls(
    channel: ChannelRow,
    version: string | undefined,
    period: { since: string; until: string; bucket: Bucket; retained: string | null },
  ): Promise<AdoptionJson['release']> {
    const current =
      version ??
      (await this.versionOf(channel.rollout_bundle_id))?.version ??
      (await this.versionOf(channel.bundle_id))?.version;
    if (current === undefined) return null;
    const history = await this.repos.channels.history(channel.id, HISTORY_DEPTH);
    const start = releaseStart(history, current);
    if (version !== undefined && start === null)
      throw errors.invalidRequest({ problem: `version: ${version} was never released on ${channel.name}` });
    // Counted from the release's start, but never from before the retention (those events are gone).
    let from = start?.at ?? period.retained ?? '';
    if (period.retained !== null && from < period.retained) from = period.retained;
    const starts = bucketsBetween(period.since, period.until, period.bucket);
    // ...up to the end of the period's last bucket: the start of the next one, whose count is left.
    const next = new Date(Date.parse(starts.at(-1)!) + BUCKET_MS[period.bucket]).toISOString();
    const [before, ...perBucket] = await this.repos.insight.installsPerBucket(
      channel.app_id,
      channel.name,
      current,
      from,
      [...starts, next],
    );
    let installs = before!;
    const points = starts.map((at, n) => {
      installs += perBucket[n]!;
      return { at, installs };
    });
    return { version: current, since: start?.at ?? null, installs, points };
  }

  /**
   * The evidence rule's judgement of the channel's rollout (null when it has none): the devices that
   * tried the rollout's bundle against the control group, the devices that tried the live bundle
   * over the same hours (those outside the rollout that installed it meanwhile: new installs,
   * devices catching up), each by the same yardstick.
   */
  async evidence(channel: ChannelRow, history?: ChannelHistoryRow[]): Promise<Evidence | null> {
    const [rollout, live] = await Promise.all([
      this.versionOf(channel.rollout_bundle_id),
      this.versionOf(channel.bundle_id),
    ]);
    if (!rollout || !live) return null;
    const entries = history ?? (await this.repos.channels.history(channel.id, HISTORY_DEPTH));
    const start = releaseStart(entries, rollout.version);
    if (!start) return null;
    const window = { appId: channel.app_id, channel: channel.name, since: start.at };
    const candidate = await this.repos.insight.triedGroup({ ...window, version: rollout.version });
    await turn();
    const control = await this.repos.insight.triedGroup({ ...window, version: live.version });
    const candidateHealth = { ...groupHealth(rollout.version, candidate), since: start.at };
    const controlHealth = { ...groupHealth(live.version, control), since: start.at };
    return {
      verdict: compareGroups(candidateHealth, controlHealth, channel.evidence_min_devices),
      candidate: candidateHealth,
      control: controlHealth,
      bundleId: rollout.id,
      startId: start.id,
    };
  }

  /**
   * The health of the channel's current release (its rollout's bundle, else its live one):
   * `healthy` is false when the evidence rule finds the rollout worse than its control group, or
   * the failure threshold's rule would halt it. What scheduled rollouts gate each step on.
   */
  async releaseHealth(appId: string, name: string): Promise<ReleaseHealthJson> {
    const channel = await this.channel(appId, name);
    await this.activity.flush();
    const base = {
      app_id: appId,
      channel: channel.name,
      rollout_percent: channel.rollout_bundle_id === null ? null : channel.rollout_percent,
      halt_on_evidence: channel.halt_on_evidence === 1,
      evidence_min_devices: channel.evidence_min_devices,
    };
    const judged =
      (await this.versionOf(channel.rollout_bundle_id)) ?? (await this.versionOf(channel.bundle_id));
    if (!judged)
      return {
        ...base,
        healthy: true,
        reason: 'nothing is released on the channel',
        verdict: null,
        release: null,
        control: null,
        previous: null,
        over_threshold: false,
      };

    const history = await this.repos.channels.history(channel.id, HISTORY_DEPTH);
    const start = releaseStart(history, judged.version);
    const since = start?.at ?? this.retentionStart(new Date()) ?? '';
    const window = { appId, channel: channel.name, since };
    const release = await this.repos.insight.triedGroup({ ...window, version: judged.version });
    await turn();
    const evidence = await this.evidence(channel, history);
    await turn();
    const previous = await this.previousRelease(channel, history, start);
    await turn();
    const threshold = await this.threshold(channel, judged.version, start?.at);
    const releaseHealth = groupHealth(judged.version, release);
    let reason: string;
    if (evidence?.verdict === 'worse')
      reason = verdictReason('worse', evidence.candidate, evidence.control, channel.evidence_min_devices);
    else if (threshold.over) reason = threshold.reason;
    else if (evidence)
      reason = verdictReason(
        evidence.verdict,
        evidence.candidate,
        evidence.control,
        channel.evidence_min_devices,
      );
    else
      reason =
        `no control group: ${judged.version} is released to every device; ` +
        `${releaseHealth.failed} of ${releaseHealth.devices} devices failed it`;
    return {
      ...base,
      healthy: evidence?.verdict !== 'worse' && !threshold.over,
      reason,
      verdict: evidence?.verdict ?? null,
      release: groupJson(releaseHealth, start?.at ?? null),
      control: evidence ? groupJson(evidence.control, evidence.control.since) : null,
      previous,
      over_threshold: threshold.over,
    };
  }

  /** The release the judged one replaced (its history entry's previous version), over its own hours. */
  private async previousRelease(
    channel: ChannelRow,
    history: ChannelHistoryRow[],
    start: { id: number; at: string } | null,
  ): Promise<GroupHealthJson | null> {
    if (!start) return null;
    const entry = history.find((row) => row.id === start.id);
    const version = entry?.previous_version;
    if (!version || version === entry.version) return null;
    const older = history.filter((row) => row.id < start.id);
    const since = releaseStart(older, version)?.at ?? this.retentionStart(new Date()) ?? '';
    const counts: GroupCounts = await this.repos.insight.triedGroup({
      appId: channel.app_id,
      channel: channel.name,
      version,
      since,
      until: start.at,
    });
    return groupJson(groupHealth(version, counts), since || null, start.at);
  }

  /** Today's threshold rule on the same release (domain/safety.ts). */
  private async threshold(channel: ChannelRow, version: string, since: string | undefined) {
    if (channel.failure_threshold === null) return { over: false, reason: '' };
    const settings = {
      failureThreshold: channel.failure_threshold,
      failureMinDevices: channel.failure_min_devices,
    };
    const health = await this.repos.stats.releaseHealth(channel.app_id, channel.name, version, since);
    const over = shouldHalt(settings, health);
    return { over, reason: over ? haltReason(version, settings, health) : '' };
  }
}
