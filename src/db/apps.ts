import type { Kysely } from 'kysely';
import type { AppChanges, AppRow, Database } from './schema.js';
import { now } from './time.js';

export class AppsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  find(id: string): Promise<AppRow | undefined> {
    return this.db.selectFrom('apps').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The apps of these ids that exist. */
  findMany(ids: readonly string[]): Promise<AppRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('apps').selectAll().where('id', 'in', ids).execute();
  }

  /**
   * The release stamps of these apps (those that exist): the release cache reloads an app only
   * when its stamp moved since its last load.
   */
  async stamps(ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('apps')
      .select(['id', 'release_stamp'])
      .where('id', 'in', ids)
      .execute();
    return new Map(rows.map((row) => [row.id, row.release_stamp]));
  }

  list(): Promise<AppRow[]> {
    return this.db.selectFrom('apps').selectAll().orderBy('id').execute();
  }

  insert(id: string, name: string): Promise<AppRow> {
    return this.db
      .insertInto('apps')
      .values({ id, name, created_at: now() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(id: string, changes: AppChanges): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    await this.db.updateTable('apps').set(changes).where('id', '=', id).execute();
  }

  /**
   * Locks the app's row and its channels' rows until the transaction ends (on PostgreSQL; SQLite has
   * one writer at a time anyway) by updating them to what they are: a retention cleanup decides from
   * the channels which bundles are still needed, and a channel change (set, rollout, rollback) made
   * meanwhile would be missed. Two cleanups of an app wait for each other too.
   */
  async lockReleases(id: string): Promise<void> {
    await this.db
      .updateTable('apps')
      .set((eb) => ({ keep_bundles: eb.ref('keep_bundles') }))
      .where('id', '=', id)
      .execute();
    await this.db
      .updateTable('channels')
      .set((eb) => ({ bundle_id: eb.ref('bundle_id') }))
      .where('app_id', '=', id)
      .execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('apps').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
