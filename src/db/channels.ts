import type { Insertable, Kysely, Updateable } from 'kysely';
import type { ChannelHistoryRow, ChannelRow, ChannelsTable, Database } from './schema.js';
import { BUNDLE_EDITED } from '../domain/safety.js';
import { now } from './time.js';

export type NewHistoryEntry = Omit<ChannelHistoryRow, 'id' | 'at'>;

export class ChannelsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  list(appId: string): Promise<ChannelRow[]> {
    return this.db.selectFrom('channels').selectAll().where('app_id', '=', appId).orderBy('name').execute();
  }

  /** The channels of several apps, by app then name. */
  listOfApps(appIds: readonly string[]): Promise<ChannelRow[]> {
    if (appIds.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('channels')
      .selectAll()
      .where('app_id', 'in', appIds)
      .orderBy('app_id')
      .orderBy('name')
      .execute();
  }

  find(appId: string, name: string): Promise<ChannelRow | undefined> {
    return this.db
      .selectFrom('channels')
      .selectAll()
      .where('app_id', '=', appId)
      .where('name', '=', name)
      .executeTakeFirst();
  }

  liveOn(bundleId: number): Promise<ChannelRow[]> {
    return this.db.selectFrom('channels').selectAll().where('bundle_id', '=', bundleId).execute();
  }

  /** The channels that serve a bundle: live, or rolling it out. */
  serving(bundleId: number): Promise<ChannelRow[]> {
    return this.db
      .selectFrom('channels')
      .selectAll()
      .where((eb) => eb.or([eb('bundle_id', '=', bundleId), eb('rollout_bundle_id', '=', bundleId)]))
      .orderBy('name')
      .execute();
  }

  insert(channel: Omit<Insertable<ChannelsTable>, 'created_at' | 'updated_at'>): Promise<ChannelRow> {
    const at = now();
    return this.db
      .insertInto('channels')
      .values({ ...channel, created_at: at, updated_at: at })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async update(id: number, changes: Updateable<ChannelsTable>): Promise<void> {
    await this.db
      .updateTable('channels')
      .set({ ...changes, updated_at: now() })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Updates the channel only if its live and rollout bundles are still those of `seen` (read before
   * in the same transaction); answers whether it did. Two undos of one release racing on PostgreSQL
   * (two instances, or two requests) both read the channel before either writes: the second update
   * waits for the first, then finds the bundles changed and changes nothing.
   */
  async updateIfUnchanged(
    seen: Pick<ChannelRow, 'id' | 'bundle_id' | 'rollout_bundle_id'>,
    changes: Updateable<ChannelsTable>,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('channels')
      .set({ ...changes, updated_at: now() })
      .where('id', '=', seen.id)
      .where('bundle_id', seen.bundle_id === null ? 'is' : '=', seen.bundle_id)
      .where('rollout_bundle_id', seen.rollout_bundle_id === null ? 'is' : '=', seen.rollout_bundle_id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Only one default channel per app: clears the flag everywhere else. */
  async clearDefault(appId: string, exceptId: number): Promise<void> {
    await this.db
      .updateTable('channels')
      .set({ is_default: 0 })
      .where('app_id', '=', appId)
      .where('id', '!=', exceptId)
      .execute();
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('channels').where('id', '=', id).execute();
  }

  async addHistory(entry: NewHistoryEntry): Promise<void> {
    await this.db
      .insertInto('channel_history')
      .values({ ...entry, at: now() })
      .execute();
  }

  history(channelId: number, limit: number, beforeId?: number): Promise<ChannelHistoryRow[]> {
    let query = this.db.selectFrom('channel_history').selectAll().where('channel_id', '=', channelId);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }

  /**
   * The bundle that was live on the channel before the current one: the newest history entry that
   * made a different bundle live, skipping bundles that no longer exist.
   */
  async previousLiveBundleId(channelId: number, currentBundleId: number | null): Promise<number | null> {
    let query = this.db
      .selectFrom('channel_history')
      .innerJoin('bundles', 'bundles.id', 'channel_history.bundle_id')
      .select('bundles.id')
      .where('channel_history.channel_id', '=', channelId)
      // A rollout never made its bundle live for the whole channel; an edit note made nothing live.
      .where('channel_history.action', 'not in', ['rollout', BUNDLE_EDITED]);
    if (currentBundleId !== null) query = query.where('bundles.id', '!=', currentBundleId);
    const row = await query.orderBy('channel_history.id', 'desc').limit(1).executeTakeFirst();
    return row?.id ?? null;
  }
}
