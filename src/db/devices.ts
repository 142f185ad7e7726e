import type { Insertable, Kysely } from 'kysely';
import type { Database, DeviceEventsTable, DeviceRow, DevicesTable } from './schema.js';
import { now } from './time.js';

/** What a device reports about itself on every call; the channel columns are the server's own. */
export type DeviceReport = Omit<DeviceRow, 'channel_override' | 'self_channel' | 'first_seen' | 'channel'> & {
  /** Known only on update checks; other calls leave the stored value alone. */
  channel?: string;
};
export type NewDeviceEvent = Insertable<DeviceEventsTable>;

export interface DeviceFilter {
  channel?: string;
  version?: string;
  platform?: string;
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

  /** The two columns the update decision needs, in one indexed point lookup. */
  channelsOf(appId: string, deviceId: string) {
    return this.db
      .selectFrom('devices')
      .select(['channel_override', 'self_channel'])
      .where('app_id', '=', appId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
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

  /** Upserts what devices reported, leaving the server-side channel columns untouched. */
  async upsertReports(reports: DeviceReport[]): Promise<void> {
    if (reports.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const report of reports) {
        const { app_id: _app, device_id: _device, ...changes } = report;
        await trx
          .insertInto('devices')
          .values({
            ...report,
            channel: report.channel ?? '',
            channel_override: null,
            self_channel: null,
            first_seen: report.last_seen,
          })
          .onConflict((oc) => oc.columns(['app_id', 'device_id']).doUpdateSet(changes))
          .execute();
      }
    });
  }

  async insertEvents(events: NewDeviceEvent[]): Promise<void> {
    if (events.length === 0) return;
    // Chunked: SQLite limits the number of bound parameters in one statement.
    for (let start = 0; start < events.length; start += 100) {
      await this.db
        .insertInto('device_events')
        .values(events.slice(start, start + 100))
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
    column: 'channel_override' | 'self_channel',
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
      default_channel: '',
      channel: '',
      is_emulator: 0,
      is_prod: 0,
      channel_override: null,
      self_channel: null,
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
      .set({ self_channel: null })
      .where('app_id', '=', appId)
      .where('self_channel', '=', name)
      .execute();
  }
}
