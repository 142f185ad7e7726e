import { sql, type Kysely, type SqlBool } from 'kysely';
import {
  DOWNLOAD_ACTIONS,
  INSTALL_ACTION,
  INSTALL_FAILURE_ACTIONS,
  OTHER_DOWNLOAD_FAILURES,
  ROLLBACK_ACTION,
  type EventCategory,
} from '../domain/device-events.js';
import type { ReleaseHealth } from '../domain/safety.js';
import type { Database } from './schema.js';

export type Bucket = 'hour' | 'day';

export interface EventFilter {
  channel?: string;
  /** ISO timestamps, inclusive lower and exclusive upper bound. */
  since?: string;
  until?: string;
}

/** Distinct devices (and events) of one category for one bundle version, and of one time bucket. */
export interface CategoryCount {
  version: string;
  category: EventCategory;
  devices: number;
  /** Distinct devices that rolled the version back (update_fail); only for install failures. */
  rollbacks: number;
  events: number;
  /** Start of the bucket (ISO), for the time series only. */
  bucket?: string;
}

/**
 * The category of an action, in SQL: the same rules as domain/device-events `categoryOf`. Plain
 * CASE, IN and LIKE, so it reads alike in SQLite and PostgreSQL.
 */
const CATEGORY = sql<EventCategory | null>`case
  when action in (${sql.join(DOWNLOAD_ACTIONS)}) then 'download'
  when action = ${INSTALL_ACTION} then 'install'
  when action in (${sql.join(INSTALL_FAILURE_ACTIONS)}) then 'install_failure'
  when action like ${'%\\_fail'} escape ${'\\'} or action in (${sql.join(OTHER_DOWNLOAD_FAILURES)})
    then 'download_failure'
end`;

/** Timestamps are ISO text: the first 13 characters are the hour, the first 10 the day. */
const BUCKET_LENGTH: Record<Bucket, number> = { hour: 13, day: 10 };
const BUCKET_SUFFIX: Record<Bucket, string> = { hour: ':00:00.000Z', day: 'T00:00:00.000Z' };

/** Rows deleted per statement by the retention clean-up: short write locks. */
const DELETE_BATCH = 5000;

/**
 * Statistics over what devices reported (device_events) and what they run now (devices). Every
 * query is a GROUP BY over an index that starts with the app (and channel, when filtered).
 */
export class StatsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  private events(appId: string, filter: EventFilter) {
    let query = this.db
      .selectFrom('device_events')
      .where('app_id', '=', appId)
      .where(sql<SqlBool>`${CATEGORY} is not null`);
    if (filter.channel !== undefined) query = query.where('channel', '=', filter.channel);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    return query;
  }

  /** Per version and category, over the whole period. */
  async totals(appId: string, filter: EventFilter): Promise<CategoryCount[]> {
    const rows = await this.events(appId, filter)
      .select([
        'version_name as version',
        CATEGORY.as('category'),
        sql<number>`count(distinct device_id)`.as('devices'),
        sql<number>`count(distinct case when action = ${ROLLBACK_ACTION} then device_id end)`.as('rollbacks'),
        sql<number>`count(*)`.as('events'),
      ])
      .groupBy(['version_name', sql`category`])
      .execute();
    return rows.map((row) => toCount(row));
  }

  /** Per time bucket, version and category (distinct devices within each bucket). */
  async series(appId: string, filter: EventFilter, bucket: Bucket): Promise<CategoryCount[]> {
    const rows = await this.events(appId, filter)
      .select([
        sql<string>`substr(at, 1, ${sql.lit(BUCKET_LENGTH[bucket])})`.as('bucket'),
        'version_name as version',
        CATEGORY.as('category'),
        sql<number>`count(distinct device_id)`.as('devices'),
        sql<number>`count(distinct case when action = ${ROLLBACK_ACTION} then device_id end)`.as('rollbacks'),
        sql<number>`count(*)`.as('events'),
      ])
      .groupBy([sql`bucket`, 'version_name', sql`category`])
      .orderBy(sql`bucket`)
      .execute();
    return rows.map((row) => ({ ...toCount(row), bucket: row.bucket + BUCKET_SUFFIX[bucket] }));
  }

  /** Devices running each version now (their last report), optionally on one channel. */
  async devicesByVersion(appId: string, channel?: string): Promise<{ version: string; devices: number }[]> {
    let query = this.db
      .selectFrom('devices')
      .select(['version_name as version', sql<number>`count(*)`.as('devices')])
      .where('app_id', '=', appId)
      // Devices pinned to a channel before their first check have reported nothing yet.
      .where('version_name', '!=', '');
    if (channel !== undefined) query = query.where('channel', '=', channel);
    const rows = await query.groupBy('version_name').execute();
    return rows.map((row) => ({ version: row.version, devices: Number(row.devices) }));
  }

  /** Devices per plugin version, optionally on one channel. */
  async pluginVersions(
    appId: string,
    channel?: string,
  ): Promise<{ plugin_version: string; devices: number }[]> {
    let query = this.db
      .selectFrom('devices')
      .select(['plugin_version', sql<number>`count(*)`.as('devices')])
      .where('app_id', '=', appId)
      .where('plugin_version', '!=', '');
    if (channel !== undefined) query = query.where('channel', '=', channel);
    const rows = await query.groupBy('plugin_version').execute();
    return rows.map((row) => ({ plugin_version: row.plugin_version, devices: Number(row.devices) }));
  }

  /**
   * Distinct devices that tried one version on one channel (since `since`), and those that failed to
   * start it: rows of release_devices (kept as the events are written), whose last try (failure to
   * start) is since then.
   */
  async releaseHealth(
    appId: string,
    channel: string,
    version: string,
    since?: string,
  ): Promise<ReleaseHealth> {
    const after = (column: 'last_at' | 'last_tried_at' | 'last_failed_at' | 'last_start_failed_at') =>
      since === undefined ? sql`${sql.ref(column)} is not null` : sql`${sql.ref(column)} >= ${since}`;
    const key = sql`app_id = ${appId} and channel = ${channel} and version_name = ${version}`;
    // The last try is never after the last event, nor the last failure to start after the last
    // failure: each count reads the range of its index, not every device of the bundle.
    const { rows } = await sql<{ tried: number | string; failed: number | string }>`
      select
        (select count(*) from release_devices where ${key} and ${after('last_at')} and ${after('last_tried_at')}) as tried,
        (select count(*) from release_devices where ${key} and ${after('last_failed_at')}
          and ${after('last_start_failed_at')}) as failed`.execute(this.db);
    return { tried: Number(rows[0]?.tried ?? 0), failed: Number(rows[0]?.failed ?? 0) };
  }

  /**
   * Deletes the app's events older than `cutoff`, a batch per statement; `between` runs between
   * batches and stops the deletion when it answers false. Resolves to the count.
   */
  async deleteEventsBefore(appId: string, cutoff: string, between?: () => Promise<boolean>): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.db
        .deleteFrom('device_events')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('device_events')
            .select('id')
            .where('app_id', '=', appId)
            .where('at', '<', cutoff)
            .limit(DELETE_BATCH),
        )
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      total += deleted;
      if (deleted < DELETE_BATCH || (between && !(await between()))) return total;
    }
  }
}

function toCount(row: {
  version: string;
  category: EventCategory | null;
  devices: number;
  rollbacks: number;
  events: number;
}): CategoryCount {
  return {
    version: row.version,
    category: row.category!,
    devices: Number(row.devices),
    rollbacks: Number(row.rollbacks),
    events: Number(row.events),
  };
}
