import semver from 'semver';
import type { StatsJson, VersionCounts } from '../api-types.js';
import type { Repos } from '../db/index.js';
import type { Bucket, CategoryCount } from '../db/stats.js';
import { resolveChannel } from '../domain/decision.js';
import { eventVersion, INSTALL_ACTION } from '../domain/device-events.js';
import { errors } from '../errors.js';
import type { DeviceActivity, DeviceEvent } from './device-activity.js';
import type { DeviceInfo } from './device-info.js';
import { assignmentOf, type ReleaseCache } from './release-cache.js';
import { requireApp } from './require.js';
import type { Metrics } from '../metrics/registry.js';
import { deviceEvent } from './live-event-of.js';
import type { LiveWatch } from './live-watch.js';

/** A device event ready to be written: its app exists, its channel is known. */
export interface PreparedEvent {
  info: DeviceInfo;
  event: DeviceEvent;
  channel: string;
}

export interface StatsQuery {
  channel?: string;
  /** ISO timestamps: from `since` (inclusive) to `until` (exclusive). */
  since: string;
  until: string;
  bucket: Bucket;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const UNIT_MS: Record<string, number> = { h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS };
/** Without `since`: the last 30 days. */
const DEFAULT_PERIOD_MS = 30 * DAY_MS;
/** Hourly buckets cover at most 31 days (744 points per version). */
const MAX_HOURLY_MS = 31 * DAY_MS;

/**
 * A moment given as an ISO date or date-time (2026-05-01, 2026-05-01T12:00:00Z) or as a time ago
 * (24h, 7d, 2w); null when it is neither.
 */
function parseMoment(text: string, now: Date): Date | null {
  const ago = /^(\d{1,5})([hdw])$/.exec(text.trim());
  if (ago) return new Date(now.getTime() - Number(ago[1]) * UNIT_MS[ago[2]!]!);
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return null;
  const date = new Date(text.trim());
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The period and bucket of a statistics request, checked; defaults: the last 30 days, by day. */
export function statsPeriod(
  input: { since?: string; until?: string; bucket?: Bucket },
  now: Date = new Date(),
): { since: string; until: string; bucket: Bucket } {
  const moment = (name: string, text: string | undefined, fallback: Date) => {
    if (text === undefined || text === '') return fallback;
    const date = parseMoment(text, now);
    if (!date)
      throw errors.invalidRequest({
        problem: `${name}: expected an ISO date such as 2026-05-01 or a time ago such as 24h, 7d or 2w`,
      });
    return date;
  };
  const until = moment('until', input.until, now);
  const since = moment('since', input.since, new Date(until.getTime() - DEFAULT_PERIOD_MS));
  const bucket = input.bucket ?? 'day';
  if (since >= until) throw errors.invalidRequest({ problem: 'since: must be before until' });
  if (bucket === 'hour' && until.getTime() - since.getTime() > MAX_HOURLY_MS)
    throw errors.invalidRequest({
      problem: 'bucket: hourly statistics cover at most 31 days; use bucket=day',
    });
  return { since: since.toISOString(), until: until.toISOString(), bucket };
}

/**
 * Stats events from the plugin: stored in batches, each with the channel the device is on, and they
 * refresh the device's last-seen state. Also the statistics read back from them, and their retention.
 */
export class StatsService {
  constructor(
    private readonly cache: ReleaseCache,
    private readonly activity: DeviceActivity,
    private readonly repos: Repos,
    private readonly metrics?: Metrics,
    private readonly live?: LiveWatch,
  ) {}

  /**
   * Records a batch of events from the plugin: resolves once all of them are committed (one
   * transaction), rejects when none could be (the database is unreachable; the plugin resends).
   * Each item has already passed `prepare`.
   */
  async record(events: readonly PreparedEvent[]): Promise<void> {
    const committed = this.activity.recordEvents(events);
    for (const { info, event } of events) {
      // Only `set` says which bundle the device now runs; other events name the bundle they are about.
      this.activity.recordDevice(info, undefined, event.action !== INSTALL_ACTION);
    }
    await committed;
    // Counted once committed: what the plugin was told was kept.
    if (this.metrics) for (const { event } of events) this.metrics.deviceEvent(event.action);
    // Shown live once durable, as the plugin is told.
    for (const prepared of events) {
      if (this.live?.watching(prepared.info.app_id, prepared.info.device_id))
        this.live.publish(deviceEvent(prepared));
    }
  }

  /** Checks one event's app and finds the channel its device is on; throws app_not_found. */
  async prepare(info: DeviceInfo, event: DeviceEvent): Promise<PreparedEvent> {
    const release = await this.cache.get(info.app_id);
    if (!release) throw errors.appNotFound({ appId: info.app_id });
    // The channel as the update check resolves it, from memory: no database read per event.
    const resolved = resolveChannel(release.channels, {
      ...assignmentOf(release, info.device_id),
      requested: info.defaultChannel,
    });
    return {
      info,
      event: { ...event, version_name: eventVersion(event.action, event.version_name) },
      channel: resolved?.channel.name ?? '',
    };
  }

  /** Per bundle version: devices on it now, and what devices reported about it in the period. */
  async report(appId: string, query: StatsQuery): Promise<StatsJson> {
    await requireApp(this.repos, appId);
    // Reports still queued would make a device that just checked in or reported look missing.
    await this.activity.flush();
    const filter = { channel: query.channel, since: query.since, until: query.until };
    const [totals, series, onVersion, plugins] = await Promise.all([
      this.repos.stats.totals(appId, filter),
      this.repos.stats.series(appId, filter, query.bucket),
      this.repos.stats.devicesByVersion(appId, query.channel),
      this.repos.stats.pluginVersions(appId, query.channel),
    ]);
    const versions = new Map<string, VersionCounts & { version: string; devices: number }>();
    const versionOf = (version: string) => {
      let entry = versions.get(version);
      if (!entry) {
        entry = { version, devices: 0, ...emptyCounts() };
        versions.set(version, entry);
      }
      return entry;
    };
    for (const row of onVersion) versionOf(row.version).devices = row.devices;
    for (const row of totals) addCount(versionOf(row.version), row);

    const points = new Map<string, VersionCounts & { at: string; version: string }>();
    for (const row of series) {
      const key = `${row.bucket}\u0000${row.version}`;
      let point = points.get(key);
      if (!point) {
        point = { at: row.bucket!, version: row.version, ...emptyCounts() };
        points.set(key, point);
      }
      addCount(point, row);
    }

    return {
      app_id: appId,
      channel: query.channel ?? null,
      since: query.since,
      until: query.until,
      bucket: query.bucket,
      versions: [...versions.values()].sort((a, b) => newestFirst(a.version, b.version)),
      series: [...points.values()].sort(
        (a, b) => a.at.localeCompare(b.at) || newestFirst(a.version, b.version),
      ),
      plugin_versions: plugins.sort(
        (a, b) => b.devices - a.devices || newestFirst(a.plugin_version, b.plugin_version),
      ),
    };
  }

  /**
   * Deletes events older than `retentionDays` (0 keeps them forever), app by app and in batches
   * that let requests run in between; an aborted `signal` stops it between two batches. Resolves to
   * the number of events deleted.
   */
  async prune(retentionDays: number, options: { at?: Date; signal?: AbortSignal } = {}): Promise<number> {
    if (retentionDays <= 0) return 0;
    const at = options.at ?? new Date();
    const cutoff = new Date(at.getTime() - retentionDays * DAY_MS).toISOString();
    const between = async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return !options.signal?.aborted;
    };
    let deleted = 0;
    for (const app of await this.repos.apps.list()) {
      deleted += await this.repos.stats.deleteEventsBefore(app.id, cutoff, between);
      // Adoption's hourly counts of installs go with the events they were counted from.
      await this.repos.insight.deleteMovesBefore(app.id, cutoff);
      // ...and so do its hourly counts of arrivals (the devices first seen then).
      await this.repos.insight.deleteArrivalsBefore(app.id, cutoff);
      if (!(await between())) break;
      // ...and each device's part in each release (release health's counts), once the events are
      // gone: its first times are read again from the events kept.
      await this.repos.insight.pruneReleaseDevices(app.id, cutoff, between);
      if (!(await between())) break;
    }
    return deleted;
  }
}

function emptyCounts(): VersionCounts {
  return { downloads: 0, installs: 0, download_failures: 0, install_failures: 0, rollbacks: 0 };
}

function addCount(target: VersionCounts, row: CategoryCount): void {
  switch (row.category) {
    case 'download':
      target.downloads += row.devices;
      break;
    case 'install':
      target.installs += row.devices;
      break;
    case 'download_failure':
      target.download_failures += row.devices;
      break;
    case 'install_failure':
      target.install_failures += row.devices;
      target.rollbacks += row.rollbacks;
      break;
  }
}

/** Newest version first: by semver when both are, else semver ones first, then by name. */
function newestFirst(a: string, b: string): number {
  const [va, vb] = [semver.valid(a), semver.valid(b)];
  if (va && vb) return semver.rcompare(va, vb);
  if (va || vb) return va ? -1 : 1;
  return b.localeCompare(a);
}
