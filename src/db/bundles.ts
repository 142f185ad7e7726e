import type { Kysely, Updateable } from 'kysely';
import type { BundleFile } from '../bundle/extract-files.js';
import type { BundleFileRow, BundleRow, BundlesTable, Database, NewBundle } from './schema.js';

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

  /** Changes a bundle's metadata (never its bytes: sha256, size and location stay). */
  async update(
    id: number,
    changes: Omit<Updateable<BundlesTable>, 'id' | 'app_id' | 'version' | 'sha256' | 'size' | 'location'>,
  ): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    await this.db.updateTable('bundles').set(changes).where('id', '=', id).execute();
  }

  /** The app's bundles that no channel serves, neither live nor in a rollout; newest first. */
  notLive(appId: string): Promise<BundleRow[]> {
    return this.db
      .selectFrom('bundles')
      .selectAll()
      .where('app_id', '=', appId)
      .where(({ not, exists, selectFrom, or }) =>
        not(
          exists(
            selectFrom('channels')
              .select('channels.id')
              .where((eb) =>
                or([
                  eb('channels.bundle_id', '=', eb.ref('bundles.id')),
                  eb('channels.rollout_bundle_id', '=', eb.ref('bundles.id')),
                ]),
              ),
          ),
        ),
      )
      .orderBy('id', 'desc')
      .execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('bundles').where('id', '=', id).execute();
  }

  /** What retention decides on: every bundle of the app, newest first. */
  forRetention(
    appId: string,
  ): Promise<Pick<BundleRow, 'id' | 'version' | 'created_at' | 'size' | 'sha256'>[]> {
    return this.db
      .selectFrom('bundles')
      .select(['id', 'version', 'created_at', 'size', 'sha256'])
      .where('app_id', '=', appId)
      .orderBy('id', 'desc')
      .execute();
  }

  /**
   * Deletes a bundle (its files' rows go with it, in the same statement) unless a channel serves it,
   * live or rolling out: the foreign key would otherwise clear that channel silently. Answers whether
   * it deleted it.
   */
  async deleteUnlessServed(id: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('bundles')
      .where('id', '=', id)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('channels')
              .select('channels.id')
              .where((eb) =>
                eb.or([eb('channels.bundle_id', '=', id), eb('channels.rollout_bundle_id', '=', id)]),
              ),
          ),
        ),
      )
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * Stored blobs referenced by no bundle and no bundle file of any app among the given digests
   * (safe to delete).
   */
  async unreferencedBlobs(sha256s: string[]): Promise<string[]> {
    const candidates = [...new Set(sha256s)];
    if (candidates.length === 0) return [];
    const stillUsed = new Set<string>();
    for (let start = 0; start < candidates.length; start += 500) {
      const chunk = candidates.slice(start, start + 500);
      const zips = await this.db
        .selectFrom('bundles')
        .select('sha256')
        .where('location', '=', 'blob')
        .where('sha256', 'in', chunk)
        .execute();
      const files = await this.db
        .selectFrom('bundle_files')
        .select('stored_sha256')
        .where('stored_sha256', 'in', chunk)
        .execute();
      // Native builds share the content-addressed store.
      const natives = await this.db
        .selectFrom('native_builds')
        .select('sha256')
        .where('sha256', 'in', chunk)
        .execute();
      for (const row of zips) stillUsed.add(row.sha256);
      for (const row of files) stillUsed.add(row.stored_sha256);
      for (const row of natives) stillUsed.add(row.sha256);
    }
    return candidates.filter((sha) => !stillUsed.has(sha));
  }

  /** Every blob the bundles of an app (or one bundle of it) use: their zips and their files. */
  async blobsOf(appId: string, bundleId?: number): Promise<string[]> {
    let zips = this.db
      .selectFrom('bundles')
      .select('sha256')
      .where('app_id', '=', appId)
      .where('location', '=', 'blob');
    let files = this.db
      .selectFrom('bundle_files')
      .innerJoin('bundles', 'bundles.id', 'bundle_files.bundle_id')
      .select('bundle_files.stored_sha256')
      .where('bundles.app_id', '=', appId);
    if (bundleId !== undefined) {
      zips = zips.where('id', '=', bundleId);
      files = files.where('bundles.id', '=', bundleId);
    }
    // A whole app's blobs include its native builds' (their rows go with the app).
    const natives =
      bundleId === undefined
        ? await this.db.selectFrom('native_builds').select('sha256').where('app_id', '=', appId).execute()
        : [];
    return [
      ...(await zips.execute()).map((row) => row.sha256),
      ...(await files.execute()).map((row) => row.stored_sha256),
      ...natives.map((row) => row.sha256),
    ];
  }

  async insertFiles(bundleId: number, files: BundleFile[]): Promise<void> {
    for (let start = 0; start < files.length; start += 100) {
      await this.db
        .insertInto('bundle_files')
        .values(
          files.slice(start, start + 100).map((file) => ({
            bundle_id: bundleId,
            path: file.path,
            file_hash: file.fileHash,
            stored_sha256: file.storedSha256,
            stored_size: file.storedSize,
            brotli: file.brotli ? 1 : 0,
          })),
        )
        .execute();
    }
  }

  /** Bundles whose files are still to be prepared (services/bundle-files.ts), oldest first. */
  async preparingFiles(limit: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('bundles')
      .select('id')
      .where('files_state', '=', 'preparing')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => row.id);
  }

  /**
   * A bundle's file rows, in place of any a cut-off attempt left, while its files are still being
   * prepared; false (and nothing written) when they no longer are (the bundle is gone, say).
   */
  async replaceFiles(bundleId: number, files: BundleFile[]): Promise<boolean> {
    const bundle = await this.db
      .selectFrom('bundles')
      .select('files_state')
      .where('id', '=', bundleId)
      .executeTakeFirst();
    if (bundle?.files_state !== 'preparing') return false;
    await this.db.deleteFrom('bundle_files').where('bundle_id', '=', bundleId).execute();
    await this.insertFiles(bundleId, files);
    return true;
  }

  /**
   * Ends the preparation of a bundle's files: 'ready' (served from now on), or 'failed' with why;
   * false when it was not being prepared any more.
   */
  async endFiles(bundleId: number, state: 'ready' | 'failed', error: string | null = null): Promise<boolean> {
    const result = await this.db
      .updateTable('bundles')
      .set({ files_state: state, files_error: error })
      .where('id', '=', bundleId)
      .where('files_state', '=', 'preparing')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Why the last attempt at a bundle's files failed (they are tried again later). */
  async noteFilesError(bundleId: number, error: string): Promise<void> {
    await this.db.updateTable('bundles').set({ files_error: error }).where('id', '=', bundleId).execute();
  }

  /** The files of the given bundles, for their manifests. */
  async filesOf(bundleIds: number[]): Promise<BundleFileRow[]> {
    if (bundleIds.length === 0) return [];
    return this.db
      .selectFrom('bundle_files')
      .selectAll()
      .where('bundle_id', 'in', bundleIds)
      .orderBy('bundle_id')
      .orderBy('path')
      .execute();
  }
}
