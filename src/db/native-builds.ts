import type { Kysely } from 'kysely';
import type { Database, NativeBuildRow, NewNativeBuild } from './schema.js';

export interface NativeBuildFilter {
  platform?: string;
  channel?: string;
}

export class NativeBuildsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  find(appId: string, platform: string, version: string): Promise<NativeBuildRow | undefined> {
    return this.db
      .selectFrom('native_builds')
      .selectAll()
      .where('app_id', '=', appId)
      .where('platform', '=', platform as NativeBuildRow['platform'])
      .where('version', '=', version)
      .executeTakeFirst();
  }

  /** Newest first (by upload order). */
  list(appId: string, filter: NativeBuildFilter = {}, limit = 500): Promise<NativeBuildRow[]> {
    let query = this.db.selectFrom('native_builds').selectAll().where('app_id', '=', appId);
    if (filter.platform) query = query.where('platform', '=', filter.platform as NativeBuildRow['platform']);
    if (filter.channel) query = query.where('channel', '=', filter.channel);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }

  /** The newest build of a channel and platform. */
  latest(appId: string, channel: string, platform: string): Promise<NativeBuildRow | undefined> {
    return this.db
      .selectFrom('native_builds')
      .selectAll()
      .where('app_id', '=', appId)
      .where('channel', '=', channel)
      .where('platform', '=', platform as NativeBuildRow['platform'])
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  insert(row: NewNativeBuild): Promise<NativeBuildRow> {
    return this.db.insertInto('native_builds').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('native_builds').where('id', '=', id).execute();
  }
}
