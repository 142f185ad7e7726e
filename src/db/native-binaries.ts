import type { Kysely } from 'kysely';
import type { Database, NativeBinaryRow, NewNativeBinary } from './schema.js';

/** Registered binaries and the native layer each was built with (the native compatibility gate). */
export class NativeBinariesRepo {
  constructor(private readonly db: Kysely<Database>) {}

  find(
    appId: string,
    platform: string,
    version: string,
    versionCode: string,
  ): Promise<NativeBinaryRow | undefined> {
    return this.db
      .selectFrom('native_binaries')
      .selectAll()
      .where('app_id', '=', appId)
      .where('platform', '=', platform as NativeBinaryRow['platform'])
      .where('version', '=', version)
      .where('version_code', '=', versionCode)
      .executeTakeFirst();
  }

  /** Newest registration first. */
  list(appId: string): Promise<NativeBinaryRow[]> {
    return this.db
      .selectFrom('native_binaries')
      .selectAll()
      .where('app_id', '=', appId)
      .orderBy('id', 'desc')
      .execute();
  }

  /** Those of several apps (the release cache loads them with each release). */
  listOfApps(appIds: readonly string[]): Promise<NativeBinaryRow[]> {
    if (appIds.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('native_binaries').selectAll().where('app_id', 'in', appIds).execute();
  }

  /** Inserts a registration, or replaces the layer (and store link) of the same binary registered before. */
  async upsert(row: NewNativeBinary): Promise<{ binary: NativeBinaryRow; replaced: boolean }> {
    const existing = await this.find(row.app_id, row.platform, row.version, row.version_code);
    if (existing) {
      const binary = await this.db
        .updateTable('native_binaries')
        .set({
          native_layer: row.native_layer,
          native_fingerprint: row.native_fingerprint,
          store_url: row.store_url ?? existing.store_url,
          source: row.source,
          created_at: row.created_at,
          created_by: row.created_by ?? null,
        })
        .where('id', '=', existing.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { binary, replaced: true };
    }
    const binary = await this.db
      .insertInto('native_binaries')
      .values(row)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { binary, replaced: false };
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('native_binaries').where('id', '=', id).execute();
  }
}
