import { sql, type Insertable, type Kysely } from 'kysely';
import type { Database, DeviceEventsTable, DeviceRow, DevicesTable, ReleaseDevicesTable } from './schema.js';
import {
  categoryOf,
  INSTALL_ACTION,
  INSTALL_FAILURE_ACTIONS,
  ROLLBACK_ACTION,
} from '../domain/device-events.js';
import { TRIED_ACTIONS } from '../domain/safety.js';
import { now } from './time.js';

/** What a device reports about itself on every call; the channel columns are the server's own. */
export type DeviceReport = Omit<
  DeviceRow,
  'channel_override' | 'self_assigned_channel' | 'first_seen' | 'channel' | 'first_version'
> & {
  /** Known only on update checks; other calls leave the stored value alone. */
  channel?: string;
  /**
   * The bundle the device said it ran in the first report this one gathers (DeviceActivity merges a
   * device's queued reports): written as the device's first_version when its row is new (or has no
   * bundle yet). Without it, version_name.
   */
  first_version?: string;
  /**
   * The report does not say which bundle the device runs (a stats event names the bundle it is
   * about): `version_name` is only written for a device seen for the first time.
   */
  keepVersion?: boolean;
};
export type NewDeviceEvent = Insertable<DeviceEventsTable>;

/** Columns a device report overwrites on conflict (all but the keys, first_seen and the channel columns). */
const REPORTED_COLUMNS = [
  'platform',
  'version_name',
  'version_build',
  'version_code',
  'version_os',
  'plugin_version',
  'custom_id',
  'requested_channel',
  'is_emulator',
  'is_prod',
  'last_seen',
] as const satisfies readonly (keyof DevicesTable)[];

/**
 * The bundle a device arrived with (adoption's arrivals, migration 0029): set once, when its row
 * first has a bundle (a row pinned before the device's first check has none). A row written
 * without one (first_version '', a version) keeps the version it had: the arrivals counted it so.
 */
const FIRST_VERSION = sql<string>`case when devices.first_version <> '' then devices.first_version
  when devices.version_name <> '' then devices.version_name else excluded.first_version end`;

/** Rows per multi-row statement: well under SQLite's limit of bound parameters. */
const BATCH_ROWS = 100;

export interface DeviceFilter {
  channel?: string;
  version?: string;
  platform?: string;
  /** A prefix of the device id or of the custom id, in any case (iOS ids are upper case, Android's lower). */
  q?: string;
}

/** `text` as a LIKE pattern that matches it literally, then anything (escape character `\`). */
function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

export class DevicesRepo {
  constructor(private readonly db: Kysely<Database>) {}

  find(appId: string, deviceId: string): Promise<DeviceRow | undefined> {
    return this.db
      .selectFrom('devices')
      .selectAll()
      .where('app_id', '=', appId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
  }

  /**
   * Devices with a server-side channel (an admin override, or an old plugin's self-assignment).
   * Few devices have one, so the update check keeps them all in memory instead of reading a row
   * per check.
   */
  assignments(appIds: readonly string[]) {
    return this.db
      .selectFrom('devices')
      .select(['app_id', 'device_id', 'channel_override', 'self_assigned_channel'])
      .where('app_id', 'in', appIds)
      .where((eb) =>
        eb.or([eb('channel_override', 'is not', null), eb('self_assigned_channel', 'is not', null)]),
      )
      .execute();
  }

  /**
   * How many devices were seen on each binary (platform, native version, build number) since a
   * moment, optionally only those last served from one channel: the compatibility report's counts.
   */
  countByBinary(appId: string, since: string, channel?: string) {
    let query = this.db
      .selectFrom('devices')
      .select([
        'platform',
        'version_build',
        'version_code',
        (eb) => eb.fn.countAll<number | string>().as('devices'),
      ])
      .where('app_id', '=', appId)
      .where('last_seen', '>=', since);
    if (channel !== undefined) query = query.where('channel', '=', channel);
    return query.groupBy(['platform', 'version_build', 'version_code']).execute();
  }

  /**
   * Most recently seen first; `channel` is the channel the device was served from at its last check.
   * The cursor is the last row's (last_seen, device_id).
   */
  page(appId: string, filter: DeviceFilter, limit: number, after?: { lastSeen: string; deviceId: string }) {
    let query = this.db.selectFrom('devices').selectAll().where('app_id', '=', appId);
    if (filter.platform) query = query.where('platform', '=', filter.platform);
    if (filter.version) query = query.where('version_name', '=', filter.version);
    if (filter.channel) query = query.where('channel', '=', filter.channel);
    if (filter.q) {
      // lower() on both sides: SQLite's LIKE ignores the case of ASCII letters, PostgreSQL's does not.
      const pattern = likePrefix(filter.q.toLowerCase());
      query = query.where((eb) =>
        eb.or([
          sql<boolean>`lower(${eb.ref('device_id')}) like ${pattern} escape '\\'`,
          sql<boolean>`lower(${eb.ref('custom_id')}) like ${pattern} escape '\\'`,
        ]),
      );
    }
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('last_seen', '<', after.lastSeen),
          eb.and([eb('last_seen', '=', after.lastSeen), eb('device_id', '>', after.deviceId)]),
        ]),
      );
    }
    return query.orderBy('last_seen', 'desc').orderBy('device_id', 'asc').limit(limit).execute();
  }

  /**
   * Upserts what devices reported, leaving the server-side channel columns untouched: a few
   * multi-row statements per batch, not one per device. Run it inside a transaction.
   *
   * With `staleBefore`, an existing row is only updated when the report changes one of its columns
   * or its last_seen is older than `staleBefore`: a device that reports the same state again does
   * not rewrite its row (on PostgreSQL, no new row version) until its last_seen is that old.
   * Resolves to the number of rows inserted or updated.
   */
  async upsertReports(reports: DeviceReport[], staleBefore?: string): Promise<number> {
    let written = 0;
    // The served channel is only known on update checks, the running bundle not on stats events:
    // reports that do not know a column must not overwrite it.
    const groups = new Map<string, { columns: (keyof DevicesTable)[]; reports: DeviceReport[] }>();
    for (const report of reports) {
      const key = `${report.channel !== undefined}:${Boolean(report.keepVersion)}`;
      let group = groups.get(key);
      if (!group) {
        const columns: (keyof DevicesTable)[] = REPORTED_COLUMNS.filter(
          (column) => !(report.keepVersion && column === 'version_name'),
        );
        if (report.channel !== undefined) columns.push('channel');
        group = { columns, reports: [] };
        groups.set(key, group);
      }
      group.reports.push(report);
    }
    for (const { columns, reports: group } of groups.values()) {
      // Rows locked in one order: two instances upserting the same devices at once (a device's
      // requests spread by a load balancer) wait for each other instead of deadlocking.
      group.sort((a, b) => compareKeys(a.app_id, b.app_id) || compareKeys(a.device_id, b.device_id));
      for (let start = 0; start < group.length; start += BATCH_ROWS) {
        const rows = group.slice(start, start + BATCH_ROWS).map(({ keepVersion: _keep, ...report }) => ({
          ...report,
          channel: report.channel ?? '',
          channel_override: null,
          self_assigned_channel: null,
          first_seen: report.last_seen,
          first_version: report.first_version ?? report.version_name,
        }));
        const [result] = await this.db
          .insertInto('devices')
          .values(rows)
          .onConflict((oc) => {
            const update = oc.columns(['app_id', 'device_id']).doUpdateSet((eb) => ({
              ...Object.fromEntries(columns.map((column) => [column, eb.ref(`excluded.${column}`)])),
              ...(columns.includes('version_name') && { first_version: FIRST_VERSION }),
            }));
            if (staleBefore === undefined) return update;
            return update.where((eb) =>
              eb.or([
                eb('devices.last_seen', '<', staleBefore),
                // Every column is NOT NULL, but IS DISTINCT FROM (SQLite 3.39+) says what is meant.
                ...columns
                  .filter((column) => column !== 'last_seen')
                  .map((column) => eb(`devices.${column}`, 'is distinct from', eb.ref(`excluded.${column}`))),
              ]),
            );
          })
          .execute();
        written += Number(result?.numInsertedOrUpdatedRows ?? 0);
      }
    }
    return written;
  }

  /**
   * Writes events, and counts the installs and rollbacks among them per hour (install_moves_hourly),
   * in the caller's transaction.
   */
  async insertEvents(events: NewDeviceEvent[]): Promise<void> {
    if (events.length === 0) return;
    for (let start = 0; start < events.length; start += BATCH_ROWS) {
      await this.db
        .insertInto('device_events')
        .values(events.slice(start, start + BATCH_ROWS))
        .execute();
    }
    const moves = countMoves(events);
    for (let start = 0; start < moves.length; start += BATCH_ROWS) {
      await this.db
        .insertInto('install_moves_hourly')
        .values(moves.slice(start, start + BATCH_ROWS))
        .onConflict((oc) =>
          oc.columns(['app_id', 'channel', 'hour', 'from_version', 'to_version']).doUpdateSet((eb) => ({
            devices: eb('install_moves_hourly.devices', '+', eb.ref('excluded.devices')),
          })),
        )
        .execute();
    }
    const parts = releaseParts(events);
    for (let start = 0; start < parts.length; start += BATCH_ROWS) {
      await this.db
        .insertInto('release_devices')
        .values(parts.slice(start, start + BATCH_ROWS))
        .onConflict((oc) =>
          oc.columns(['app_id', 'channel', 'version_name', 'device_id']).doUpdateSet({
            first_at: earlier('first_at'),
            last_at: later('last_at'),
            first_failed_at: earlier('first_failed_at'),
            last_failed_at: later('last_failed_at'),
            last_tried_at: later('last_tried_at'),
            last_start_failed_at: later('last_start_failed_at'),
            first_install_at: earlier('first_install_at'),
            last_install_at: later('last_install_at'),
          }),
        )
        .execute();
    }
  }

  /**
   * Sets one of the server-side channel columns, creating the device row when the device has not
   * checked in yet (so QA devices can be pinned before their first launch).
   */
  async setChannelColumn(
    appId: string,
    deviceId: string,
    column: 'channel_override' | 'self_assigned_channel',
    value: string | null,
  ): Promise<void> {
    const at = now();
    const blank: Insertable<DevicesTable> = {
      app_id: appId,
      device_id: deviceId,
      platform: '',
      version_name: '',
      version_build: '',
      version_code: '',
      version_os: '',
      plugin_version: '',
      custom_id: '',
      requested_channel: '',
      channel: '',
      is_emulator: 0,
      is_prod: 0,
      channel_override: null,
      self_assigned_channel: null,
      first_seen: at,
      last_seen: at,
    };
    await this.db
      .insertInto('devices')
      .values({ ...blank, [column]: value })
      .onConflict((oc) => oc.columns(['app_id', 'device_id']).doUpdateSet({ [column]: value }))
      .execute();
  }

  /** Drops references to a deleted channel so those devices fall back to the normal rules. */
  async forgetChannel(appId: string, name: string): Promise<void> {
    await this.db
      .updateTable('devices')
      .set({ channel_override: null })
      .where('app_id', '=', appId)
      .where('channel_override', '=', name)
      .execute();
    await this.db
      .updateTable('devices')
      .set({ self_assigned_channel: null })
      .where('app_id', '=', appId)
      .where('self_assigned_channel', '=', name)
      .execute();
  }
}

/**
 * The installs (`set`: from old_version_name to version_name) and rollbacks (`update_fail`: back from
 * version_name to old_version_name) among events, counted per app, channel, hour and pair, in one
 * order (two instances adding to the same rows wait for each other rather than deadlock).
 */
function countMoves(events: readonly NewDeviceEvent[]) {
  const counts = new Map<
    string,
    {
      app_id: string;
      channel: string;
      hour: string;
      from_version: string;
      to_version: string;
      devices: number;
    }
  >();
  for (const event of events) {
    const channel = event.channel ?? '';
    if (event.action !== INSTALL_ACTION && event.action !== ROLLBACK_ACTION) continue;
    if (!channel || !event.old_version_name || event.old_version_name === event.version_name) continue;
    const isSet = event.action === INSTALL_ACTION;
    const row = {
      app_id: event.app_id,
      channel,
      hour: event.at.slice(0, 13),
      from_version: isSet ? event.old_version_name : event.version_name,
      to_version: isSet ? event.version_name : event.old_version_name,
      devices: 1,
    };
    const key = [row.app_id, row.channel, row.hour, row.from_version, row.to_version].join('\u0000');
    const counted = counts.get(key);
    if (counted) counted.devices += 1;
    else counts.set(key, row);
  }
  return [...counts.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, row]) => row);
}

type ReleaseTime = Exclude<keyof ReleaseDevicesTable, 'app_id' | 'channel' | 'version_name' | 'device_id'>;

/**
 * The stored time or the written one, whichever is earlier (later): a null is no time at all. CASE,
 * not min()/least(): SQLite's two-argument min() is null when either is, PostgreSQL's least() not.
 */
const earlier = (column: ReleaseTime) =>
  sql<string>`case when ${sql.ref(`release_devices.${column}`)} is null or ${sql.ref(`excluded.${column}`)} < ${sql.ref(`release_devices.${column}`)} then ${sql.ref(`excluded.${column}`)} else ${sql.ref(`release_devices.${column}`)} end`;
const later = (column: ReleaseTime) =>
  sql<string>`case when ${sql.ref(`release_devices.${column}`)} is null or ${sql.ref(`excluded.${column}`)} > ${sql.ref(`release_devices.${column}`)} then ${sql.ref(`excluded.${column}`)} else ${sql.ref(`release_devices.${column}`)} end`;

/**
 * Each device's part in each bundle's releases on each channel (release_devices) among events: the
 * first and last of the events that put it in the bundle's group (tried it, or failed it) and of
 * each kind release health counts, per app, channel, bundle and device, in one order (as countMoves).
 * Events without a channel are in no channel's releases.
 */
function releaseParts(events: readonly NewDeviceEvent[]): Insertable<ReleaseDevicesTable>[] {
  const parts = new Map<string, Insertable<ReleaseDevicesTable>>();
  const first = (a: string | null | undefined, b: string) => (a == null || b < a ? b : a);
  const last = (a: string | null | undefined, b: string) => (a == null || b > a ? b : a);
  for (const event of events) {
    const channel = event.channel ?? '';
    if (!channel) continue;
    const category = categoryOf(event.action);
    const failed = category === 'install_failure' || category === 'download_failure';
    const tried = TRIED_ACTIONS.includes(event.action);
    if (!failed && !tried) continue;
    const key = [event.app_id, channel, event.version_name, event.device_id].join('\u0000');
    const part = parts.get(key) ?? {
      app_id: event.app_id,
      channel,
      version_name: event.version_name,
      device_id: event.device_id,
      first_at: event.at,
      last_at: event.at,
      first_failed_at: null,
      last_failed_at: null,
      last_tried_at: null,
      last_start_failed_at: null,
      first_install_at: null,
      last_install_at: null,
    };
    const at = event.at;
    part.first_at = first(part.first_at, at);
    part.last_at = last(part.last_at, at);
    if (failed) {
      part.first_failed_at = first(part.first_failed_at, at);
      part.last_failed_at = last(part.last_failed_at, at);
    }
    if (tried) part.last_tried_at = last(part.last_tried_at, at);
    if (INSTALL_FAILURE_ACTIONS.includes(event.action))
      part.last_start_failed_at = last(part.last_start_failed_at, at);
    if (event.action === INSTALL_ACTION) {
      part.first_install_at = first(part.first_install_at, at);
      part.last_install_at = last(part.last_install_at, at);
    }
    parts.set(key, part);
  }
  return [...parts.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, part]) => part);
}

/** Plain code-unit order: the same in every instance, whatever its locale. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
