import type { Kysely } from 'kysely';
import type { Database, DeviceHoldRow } from './schema.js';

/** Download failures of one version on one device before it is held back (a single one may be a bad network). */
export const DOWNLOAD_FAILURES_TO_HOLD = 3;

export interface FailureReport {
  app_id: string;
  device_id: string;
  version: string;
  /** An install failure (the device rolled the bundle back), else a download failure. */
  install: boolean;
  action: string;
  at: string;
}

export class HoldsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Counts failures per device and version; one row each, created at the first failure. */
  async record(reports: FailureReport[]): Promise<void> {
    for (const report of reports) {
      const install = report.install ? 1 : 0;
      await this.db
        .insertInto('device_holds')
        .values({
          app_id: report.app_id,
          device_id: report.device_id,
          version: report.version,
          install_failures: install,
          download_failures: 1 - install,
          last_action: report.action,
          first_at: report.at,
          last_at: report.at,
        })
        .onConflict((oc) =>
          oc.columns(['app_id', 'device_id', 'version']).doUpdateSet((eb) => ({
            install_failures: eb('device_holds.install_failures', '+', install),
            download_failures: eb('device_holds.download_failures', '+', 1 - install),
            last_action: report.action,
            last_at: report.at,
          })),
        )
        .execute();
    }
  }

  /** The holds in force in these apps: any install failure, or repeated download failures. */
  active(appIds: readonly string[]): Promise<Pick<DeviceHoldRow, 'app_id' | 'device_id' | 'version'>[]> {
    if (appIds.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('device_holds')
      .select(['app_id', 'device_id', 'version'])
      .where('app_id', 'in', appIds)
      .where((eb) =>
        eb.or([eb('install_failures', '>', 0), eb('download_failures', '>=', DOWNLOAD_FAILURES_TO_HOLD)]),
      )
      .execute();
  }

  list(appId: string, deviceId?: string): Promise<DeviceHoldRow[]> {
    let query = this.db.selectFrom('device_holds').selectAll().where('app_id', '=', appId);
    if (deviceId) query = query.where('device_id', '=', deviceId);
    return query.orderBy('last_at', 'desc').limit(1000).execute();
  }

  async clear(appId: string, deviceId: string, version?: string): Promise<number> {
    let query = this.db
      .deleteFrom('device_holds')
      .where('app_id', '=', appId)
      .where('device_id', '=', deviceId);
    if (version) query = query.where('version', '=', version);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
