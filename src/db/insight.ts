import { sql, type Kysely, type RawBuilder } from 'kysely';
import {
  INSTALL_ACTION,
  INSTALL_FAILURE_ACTIONS,
  OTHER_DOWNLOAD_FAILURES,
  ROLLBACK_ACTION,
} from '../domain/device-events.js';
import type { GroupCounts } from '../domain/release-health.js';
import { TRIED_ACTIONS } from '../domain/safety.js';
import type { Database } from './schema.js';
import type { Bucket } from './stats.js';

/** Timestamps are ISO text: the first 13 characters are the hour, the first 10 the day. */
const BUCKET_LENGTH: Record<Bucket, number> = { hour: 13, day: 10 };

/**
 * The events that move a device from one bundle to another: `set` (from old_version_name to
 * version_name) and the rollback `update_fail` (back from version_name to old_version_name). As
 * literals, never bound parameters, and written as in the partial index device_events_moves
 * (migration 0024): the planner uses it only when it can see the query's condition is the index's
 * own (SQLite at prepare time, PostgreSQL in its generic plans).
 */
const MOVE_CONDITION = sql`action in (${sql.lit(INSTALL_ACTION)}, ${sql.lit(ROLLBACK_ACTION)})`;
const IS_INSTALL = sql`action = ${sql.lit(INSTALL_ACTION)}`;

/**
 * A failure in the release-health sense: the bundle failed to start (update_fail,
 * app_launch_timeout) or failed before it ran (download_fail, checksum_fail, ... : every "_fail" and
 * the few failures named otherwise), as domain/device-events `categoryOf` counts them.
 */
const FAILED = sql`(action like ${'%\\_fail'} escape ${'\\'} or action in (${sql.join([
  ...INSTALL_FAILURE_ACTIONS,
  ...OTHER_DOWNLOAD_FAILURES,
])}))`;
/** What makes a device one of a release's group: it tried the release, or failed it. */
const EXPOSED = sql`(action in (${sql.join(TRIED_ACTIONS)}) or ${FAILED})`;

/** Later than any timestamp: the end of the last bucket. */
const END_OF_TIME = '9999-12-31T23:59:59.999Z';

/** Rows deleted per statement by the retention clean-up: short write locks (as StatsRepo's). */
const DELETE_BATCH = 5000;

/** Devices moved from one bundle to another on a channel, per time bucket. */
export interface InstallMove {
  bucket: string;
  from: string;
  to: string;
  devices: number;
}

/** A version and a count (of devices). */
export interface VersionCount {
  bucket?: string;
  version: string;
  devices: number;
}

/** A release's window on one channel: from `since` (inclusive) to `until` (exclusive, or now). */
export interface ReleaseWindow {
  appId: string;
  channel: string;
  version: string;
  since: string;
  until?: string;
}

/**
 * The reads behind release insight: adoption (devices per bundle over time, reconstructed from what
 * devices run now and the installs that led there) and the health of a release's devices against
 * another group's. Every query starts with the app and channel of an index; adoption's read counts
 * kept by the database (migrations 0024 and 0029), never a row per device.
 */
export class InsightRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Devices on the channel per bundle they run now (their last report; pinned devices not yet seen
   * left out): channel_bundle_devices, kept by triggers on devices (migration 0029).
   */
  async runningNow(appId: string, channel: string): Promise<VersionCount[]> {
    const rows = await this.db
      .selectFrom('channel_bundle_devices')
      .select(['version_name as version', 'devices'])
      .where('app_id', '=', appId)
      .where('channel', '=', channel)
      .where('devices', '>', 0)
      .execute();
    return rows.map((row) => ({ version: row.version, devices: Number(row.devices) }));
  }

  /**
   * Installs and rollbacks on the channel since `since`, per bucket and (from, to) pair, read from
   * the partial index alone. A rollback that does not say what it went back to is left out (the
   * device's next check says what it runs).
   */
  async installMoves(appId: string, channel: string, since: string, bucket: Bucket): Promise<InstallMove[]> {
    // Counted per hour as they were written (install_moves_hourly): a few rows per hour of the period.
    const { rows } = await sql<{ bucket: string; from: string; to: string; devices: number | string }>`
      select substr(hour, 1, ${sql.lit(BUCKET_LENGTH[bucket])}) as bucket, from_version as "from",
        to_version as "to", sum(devices) as devices
      from install_moves_hourly
      where app_id = ${appId} and channel = ${channel} and hour >= ${since.slice(0, 13)}
      group by substr(hour, 1, ${sql.lit(BUCKET_LENGTH[bucket])}), from_version, to_version`.execute(this.db);
    return rows.map((row) => ({ ...row, devices: Number(row.devices) }));
  }

  /** Forgets the hourly counts of moves before `cutoff` (the statistics retention); resolves to the rows deleted. */
  async deleteMovesBefore(appId: string, cutoff: string): Promise<number> {
    const result = await this.db
      .deleteFrom('install_moves_hourly')
      .where('app_id', '=', appId)
      .where('hour', '<', cutoff.slice(0, 13))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Forgets what release_devices knows of events before `cutoff` (the statistics retention, once
   * they are deleted): rows whose every event is older go, times of kinds whose every event is older
   * are cleared, and first times older than the cutoff are read again from the events kept. Bundle
   * by bundle (a seek for each), on the rows that came to the bundle before the cutoff; deletions in
   * batches, with `between` between them (false stops). Resolves to the rows deleted.
   */
  async pruneReleaseDevices(
    appId: string,
    cutoff: string,
    between?: () => Promise<boolean>,
  ): Promise<number> {
    let deleted = 0;
    let after: { channel: string; version: string } | null = null;
    for (;;) {
      const next: { channel: string; version: string } | undefined = (
        await sql<{ channel: string; version: string }>`
          select channel, version_name as version from release_devices
          where app_id = ${appId} ${after === null ? sql`` : sql`and (channel, version_name) > (${after.channel}, ${after.version})`}
          order by channel, version_name limit 1`.execute(this.db)
      ).rows[0];
      if (next === undefined) return deleted;
      after = next;
      const key = sql`app_id = ${appId} and channel = ${next.channel} and version_name = ${next.version}`;
      const old = sql`${key} and first_at < ${cutoff}`;
      for (;;) {
        const result = await sql`delete from release_devices where ${key} and device_id in (
            select device_id from release_devices where ${old} and last_at < ${cutoff} limit ${DELETE_BATCH})`.execute(
          this.db,
        );
        const count = Number(result.numAffectedRows ?? 0);
        deleted += count;
        if (between && !(await between())) return deleted;
        if (count < DELETE_BATCH) break;
      }
      await sql`update release_devices set first_failed_at = null, last_failed_at = null, last_start_failed_at = null
        where ${old} and last_failed_at < ${cutoff}`.execute(this.db);
      await sql`update release_devices set last_start_failed_at = null
        where ${old} and last_start_failed_at < ${cutoff}`.execute(this.db);
      await sql`update release_devices set last_tried_at = null where ${old} and last_tried_at < ${cutoff}`.execute(
        this.db,
      );
      await sql`update release_devices set first_install_at = null, last_install_at = null
        where ${old} and last_install_at < ${cutoff}`.execute(this.db);
      // The first of the device's events kept, of the kind (the last one is kept: it is not older).
      const firstKept = (kind: RawBuilder<unknown>, column: string) => sql`coalesce((
          select min(e.at) from device_events e
          where e.app_id = release_devices.app_id and e.device_id = release_devices.device_id
            and e.channel = release_devices.channel and e.version_name = release_devices.version_name and ${kind}
        ), ${sql.ref(`release_devices.${column}`)})`;
      await sql`update release_devices set first_failed_at = ${firstKept(FAILED, 'last_failed_at')}
        where ${old} and first_failed_at < ${cutoff}`.execute(this.db);
      await sql`update release_devices set first_install_at = ${firstKept(IS_INSTALL, 'last_install_at')}
        where ${old} and first_install_at < ${cutoff}`.execute(this.db);
      await sql`update release_devices set first_at = ${firstKept(EXPOSED, 'last_at')} where ${old}`.execute(
        this.db,
      );
    }
  }

  /**
   * Devices on the channel first seen since `since` (the start of an hour), per bucket of their
   * first sighting and the bundle they arrived with: the one their row first reported
   * (devices.first_version), which stays with the device when it changes channel. Read from
   * channel_arrivals_hourly, kept by triggers on devices (migration 0029): a few rows per hour.
   */
  async newDevices(appId: string, channel: string, since: string, bucket: Bucket): Promise<VersionCount[]> {
    const { rows } = await sql<{ bucket: string; version: string; devices: number | string }>`
      select substr(hour, 1, ${sql.lit(BUCKET_LENGTH[bucket])}) as bucket, version_name as version,
        sum(devices) as devices
      from channel_arrivals_hourly
      where app_id = ${appId} and channel = ${channel} and hour >= ${since.slice(0, 13)}
      group by substr(hour, 1, ${sql.lit(BUCKET_LENGTH[bucket])}), version_name`.execute(this.db);
    return rows.map((row) => ({ ...row, devices: Number(row.devices) })).filter((row) => row.devices !== 0);
  }

  /** Forgets the hourly counts of arrivals before `cutoff` (the statistics retention); resolves to the rows deleted. */
  async deleteArrivalsBefore(appId: string, cutoff: string): Promise<number> {
    const result = await this.db
      .deleteFrom('channel_arrivals_hourly')
      .where('app_id', '=', appId)
      .where('hour', '<', cutoff.slice(0, 13))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * Devices that installed `version` on the channel since `since`, counted by when they first did
   * since then: before `starts[0]`, then between each start and the next (the last, from it on).
   * From release_devices: a range count of its index on the first install per bucket, so the whole
   * release is read once, without a sort. The few devices whose first install was before `since` and
   * that installed it again since (the bundle was released on the channel before) are read from
   * their own events.
   */
  async installsPerBucket(
    appId: string,
    channel: string,
    version: string,
    since: string,
    starts: readonly string[],
  ): Promise<number[]> {
    const key = sql`r.app_id = ${appId} and r.channel = ${channel} and r.version_name = ${version}`;
    const bounds = [since, ...starts.map((start) => (start < since ? since : start)), END_OF_TIME];
    const ranges = bounds.slice(0, -1).map((low, n) => sql`(${n}, ${low}, ${bounds[n + 1]!})`);
    const { rows } = await sql<{ n: number | string; devices: number | string }>`
        select b.column1 as n, (
          select count(*) from release_devices r
          where ${key} and r.first_install_at >= b.column2 and r.first_install_at < b.column3
        ) as devices
        from (values ${sql.join(ranges)}) as b`.execute(this.db);
    // One statement after the other: on SQLite, each holds the event loop.
    const { rows: again } = await sql<{ first_at: string | null }>`
        select (
          select min(e.at) from device_events e
          where e.app_id = r.app_id and e.device_id = r.device_id and ${MOVE_CONDITION} and ${IS_INSTALL}
            and e.channel = r.channel and e.version_name = r.version_name and e.at >= ${since}
        ) as first_at
        from release_devices r
        where ${key} and r.first_install_at < ${since} and r.last_install_at >= ${since}`.execute(this.db);
    const counts = bounds.slice(0, -1).map(() => 0);
    for (const row of rows) counts[Number(row.n)] = Number(row.devices);
    for (const { first_at: at } of again) {
      if (at === null) continue;
      let n = 0;
      while (n + 1 < counts.length && at >= bounds[n + 1]!) n++;
      counts[n]! += 1;
    }
    return counts;
  }

  /**
   * The devices that tried (or failed) a release in its window, and those that failed it: the group
   * of a release being rolled out, of its control (the live bundle over the same hours), or of an
   * earlier release. Only devices that tried it count: a failure to start happens on the first
   * launch after an install, so a device that has run a bundle for weeks can no longer fail it, and
   * counting it would make any release look worse than its control.
   */
  async triedGroup(window: ReleaseWindow): Promise<GroupCounts> {
    const devices = await this.countGroup(window, 'at', EXPOSED);
    const failed = await this.countGroup(window, 'failed_at', FAILED);
    return { devices, failed };
  }

  /**
   * Devices with an event of `kind` in the window, from release_devices: since `since`, the rows
   * whose last is since then. A window that ends too: of those, the rows whose first is before its
   * end, less the devices whose events of the bundle straddle the window (one before, one after)
   * with none in it, found among the few rows whose first is before `since` and checked on their
   * events.
   */
  private async countGroup(
    window: ReleaseWindow,
    column: 'at' | 'failed_at',
    kind: RawBuilder<unknown>,
  ): Promise<number> {
    const first = sql.ref(`r.first_${column}`);
    const last = sql.ref(`r.last_${column}`);
    const key = sql`r.app_id = ${window.appId} and r.channel = ${window.channel} and r.version_name = ${window.version}`;
    if (window.until === undefined) {
      const { rows } = await sql<{ devices: number | string }>`
        select count(*) as devices from release_devices r where ${key} and ${last} >= ${window.since}`.execute(
        this.db,
      );
      return Number(rows[0]?.devices ?? 0);
    }
    const straddles = sql`${key} and r.first_at < ${window.since} and ${first} < ${window.since} and ${last} >= ${window.until}`;
    const { rows } = await sql<{ devices: number | string; straddling: number | string }>`
      select
        (select count(*) from release_devices r
          where ${key} and ${last} >= ${window.since} and ${first} < ${window.until}) as devices,
        (select count(*) from release_devices r where ${straddles}) as straddling`.execute(this.db);
    const devices = Number(rows[0]?.devices ?? 0);
    // Mostly none: then no device's events are read (nor planned for: PostgreSQL's estimate of that
    // read made it compile the statement, 0.6 s).
    if (Number(rows[0]?.straddling ?? 0) === 0) return devices;
    const { rows: empty } = await sql<{ devices: number | string }>`
      select count(*) as devices from release_devices r
      where ${straddles} and not exists (
        select 1 from device_events e
        where e.app_id = r.app_id and e.device_id = r.device_id and e.channel = r.channel
          and e.version_name = r.version_name and e.at >= ${window.since} and e.at < ${window.until}
          and ${kind}
      )`.execute(this.db);
    return devices - Number(empty[0]?.devices ?? 0);
  }
}
