import type { Insertable, Kysely } from 'kysely';
import type { Database, ReleaseRequestRow, ReleaseRequestsTable } from './schema.js';

/** Which requests a list shows: by stored status, or `expired` (pending past its expiry). */
export type ReleaseRequestFilter = 'pending' | 'approved' | 'rejected' | 'failed' | 'expired';

export class ReleaseRequestsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  insert(request: Omit<Insertable<ReleaseRequestsTable>, 'id'>): Promise<ReleaseRequestRow> {
    return this.db.insertInto('release_requests').values(request).returningAll().executeTakeFirstOrThrow();
  }

  find(appId: string, id: number): Promise<ReleaseRequestRow | undefined> {
    return this.db
      .selectFrom('release_requests')
      .selectAll()
      .where('app_id', '=', appId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** The app's requests, newest first; `now` tells pending from expired. */
  list(
    appId: string,
    filter: ReleaseRequestFilter | undefined,
    now: string,
    limit: number,
    beforeId?: number,
  ): Promise<ReleaseRequestRow[]> {
    let query = this.db.selectFrom('release_requests').selectAll().where('app_id', '=', appId);
    if (filter === 'pending') query = query.where('status', '=', 'pending').where('expires_at', '>', now);
    else if (filter === 'expired')
      query = query.where('status', '=', 'pending').where('expires_at', '<=', now);
    else if (filter !== undefined) query = query.where('status', '=', filter);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    return query.orderBy('id', 'desc').limit(limit).execute();
  }

  /**
   * Closes a pending request that has not expired at `now`; answers whether it did. The condition is
   * in the UPDATE itself: of two approvers at once (two instances on PostgreSQL), the second waits
   * for the first's row lock, then finds it no longer pending and changes nothing.
   */
  async close(
    id: number,
    now: string,
    outcome: { status: 'approved' | 'rejected' | 'failed'; decidedBy: string; reason: string | null },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('release_requests')
      .set({ status: outcome.status, decided_by: outcome.decidedBy, decided_at: now, reason: outcome.reason })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Deletes the requests settled before `cutoff`: decided then, or left pending until they expired
   * then (a pending request that can still be decided is never deleted). They are the record of who
   * asked and who decided, kept as long as the audit log; there are as many as people made, so one
   * statement. Resolves to the number deleted.
   */
  async deleteSettledBefore(cutoff: string): Promise<number> {
    const result = await this.db
      .deleteFrom('release_requests')
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '!=', 'pending'), eb('decided_at', '<', cutoff)]),
          eb.and([eb('status', '=', 'pending'), eb('expires_at', '<', cutoff)]),
        ]),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
