import { sql, type Kysely } from 'kysely';
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
 * another group's. Every query starts with the app and channel of an index.
 */
export class InsightRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Devices on the channel per bundle they run now (their last report; pinned devices not yet seen left out). */
  async runningNow(appId: string, channel: string): Promise<VersionCount[]> {
    const rows = await this.db
      .selectFrom('devices')
      .select(['version_name as version', sql<number | string>`count(*)`.as('devices')])
      .where('app_id', '=', appId)
      .where('channel', '=', channel)
      .where('version_name', '!=', '')
      .groupBy('version_name')
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
   * Devices on the channel first seen since `since`, per bucket of their first sighting and the
   * bundle they first ran: the one their first install (or rollback) on the channel moved them from,
   * as installMoves counts moves, or, with none since, the one they run now.
   */
  async newDevices(appId: string, channel: string, since: string, bucket: Bucket): Promise<VersionCount[]> {
    const { rows } = await sql<{ bucket: string; version: string; devices: number | string }>`
      select bucket, version, count(*) as devices from (
        select substr(d.first_seen, 1, ${sql.lit(BUCKET_LENGTH[bucket])}) as bucket,
          coalesce((
            select case when e.action = ${sql.lit(INSTALL_ACTION)} then e.old_version_name else e.version_name end
            from device_events e
            where e.app_id = d.app_id and e.device_id = d.device_id and ${MOVE_CONDITION}
              and e.at >= ${since} and e.channel = ${channel}
              and e.old_version_name != e.version_name and e.old_version_name != ''
            order by e.at limit 1
          ), d.version_name) as version
        from devices d
        where d.app_id = ${appId} and d.first_seen >= ${since} and d.channel = ${channel}
          and d.version_name != ''
      ) as first_runs
      group by bucket, version`.execute(this.db);
    return rows.map((row) => ({ ...row, devices: Number(row.devices) }));
  }

  /** Devices that installed `version` on the channel since `since`, per bucket of their first install. */
  async firstInstalls(
    appId: string,
    channel: string,
    version: string,
    since: string,
    bucket: Bucket,
  ): Promise<{ bucket: string; devices: number }[]> {
    const { rows } = await sql<{ bucket: string; devices: number | string }>`
      select substr(first_at, 1, ${sql.lit(BUCKET_LENGTH[bucket])}) as bucket, count(*) as devices from (
        select device_id, min(at) as first_at from device_events
        where app_id = ${appId} and channel = ${channel} and ${MOVE_CONDITION} and ${IS_INSTALL} and at >= ${since}
          and version_name = ${version}
        group by device_id
      ) as installs
      group by substr(first_at, 1, ${sql.lit(BUCKET_LENGTH[bucket])})
      order by bucket`.execute(this.db);
    return rows.map((row) => ({ bucket: row.bucket, devices: Number(row.devices) }));
  }

  /**
   * The devices that tried (or failed) a release in its window, and those that failed it: the group
   * of a release being rolled out, of its control (the live bundle over the same hours), or of an
   * earlier release. Only devices that tried it count: a failure to start happens on the first
   * launch after an install, so a device that has run a bundle for weeks can no longer fail it, and
   * counting it would make any release look worse than its control.
   */
  async triedGroup(window: ReleaseWindow): Promise<GroupCounts> {
    const until = window.until === undefined ? sql`` : sql`and at < ${window.until}`;
    const { rows } = await sql<{ devices: number | string; failed: number | string }>`
      select count(distinct device_id) as devices,
        count(distinct case when ${FAILED} then device_id end) as failed
      from device_events
      where app_id = ${window.appId} and channel = ${window.channel} and version_name = ${window.version}
        and at >= ${window.since} ${until} and ${EXPOSED}`.execute(this.db);
    return { devices: Number(rows[0]?.devices ?? 0), failed: Number(rows[0]?.failed ?? 0) };
  }
}
