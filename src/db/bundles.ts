import type { Kysely } from 'kysely';
import type { BundleRow, Database, NewBundle } from './schema.js';

export class BundlesRepo {
  constructor(private readonly db: Kysely<Database>) {}

  find(appId: string, version: string): Promise<BundleRow | undefined> {
    return this.db
      .selectFrom('bundles')
      .selectAll()
      .where('app_id', '=', appId)
      .where('version', '=', version)
      .executeTakeFirst();
  }

  findById(id: number): Promise<BundleRow | undefined> {
    return this.db.selectFrom('bundles').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findByIds(ids: number[]): Promise<BundleRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('bundles').selectAll().where('id', 'in', ids).execute();
  }

  /** Newest first; `beforeId` is the cursor returned with the previous page. */
  page(appId: string, limit: number, beforeId?: number): Promise<BundleRow[]> {
    let query = this.db.selectFrom('bundles').selectAll().where('app_id', '=', appId);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }

  async insert(bundle: NewBundle): Promise<BundleRow> {
    return this.db.insertInto('bundles').values(bundle).returningAll().executeTakeFirstOrThrow();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('bundles').where('id', '=', id).execute();
  }

  /** Stored blobs referenced by no bundle of any app among the given digests (safe to delete). */
  async unreferencedBlobs(sha256s: string[]): Promise<string[]> {
    if (sha256s.length === 0) return [];
    const used = await this.db
      .selectFrom('bundles')
      .select('sha256')
      .where('location', '=', 'blob')
      .where('sha256', 'in', sha256s)
      .execute();
    const stillUsed = new Set(used.map((row) => row.sha256));
    return [...new Set(sha256s)].filter((sha) => !stillUsed.has(sha));
  }

  async blobsOfApp(appId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('bundles')
      .select('sha256')
      .where('app_id', '=', appId)
      .where('location', '=', 'blob')
      .execute();
    return rows.map((row) => row.sha256);
  }
}
