import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * Named leases on background work that one instance at a time must do (instances sharing a
 * PostgreSQL database). A lease is a row: its holder and until when. It is taken, or renewed by its
 * holder, with one conditional update (`holder is me or the lease expired`), which PostgreSQL runs
 * one at a time per row: of two instances trying at the same moment, one gets it.
 */
export class LeasesRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Takes or renews the lease `name` for `holder` until `expiresAt`; answers whether it holds it. */
  async take(name: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
    // The row must exist for the conditional update: the first taker creates it, expired.
    await this.db
      .insertInto('leases')
      .values({ name, holder: '', expires_at: new Date(0).toISOString() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const result = await this.db
      .updateTable('leases')
      .set({ holder, expires_at: expiresAt })
      .where('name', '=', name)
      .where((eb) => eb.or([eb('holder', '=', holder), eb('expires_at', '<=', now)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Gives the lease up (a clean stop), so that another instance takes it at its next tick. */
  async release(name: string, holder: string): Promise<void> {
    await this.db
      .updateTable('leases')
      .set({ expires_at: new Date(0).toISOString() })
      .where('name', '=', name)
      .where('holder', '=', holder)
      .execute();
  }

  /** Deletes a lease its holder is done with for good (one named after work that has ended). */
  async drop(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }
}
