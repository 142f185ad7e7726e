import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { now } from './time.js';

/**
 * Server-wide values by key, in the database so that every instance sharing it agrees on them
 * (a value kept in one instance's data folder would differ from the next instance's).
 */
export class SettingsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  /**
   * Stores `value` unless the key already has one, and answers the value that is stored: instances
   * starting together each propose one, and all of them end up with the first that was written.
   */
  async putIfAbsent(key: string, value: string): Promise<string> {
    await this.db
      .insertInto('settings')
      .values({ key, value, updated_at: now() })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const stored = await this.get(key);
    if (stored === undefined) throw new Error(`setting ${key} was not stored`);
    return stored;
  }

  /** Replaces the key's value by `value` if it is still `expected` (another instance may have changed it). */
  async replace(key: string, expected: string, value: string): Promise<void> {
    await this.db
      .updateTable('settings')
      .set({ value, updated_at: now() })
      .where('key', '=', key)
      .where('value', '=', expected)
      .execute();
  }

  /**
   * Holds the lock named `key` until the surrounding transaction ends (call it inside one): another
   * transaction taking the same lock waits until then. It writes the key's row, which holds a row
   * lock on PostgreSQL and the database's write lock on SQLite. On PostgreSQL, statements after it
   * see what the transaction that held the lock before had committed.
   */
  async lock(key: string): Promise<void> {
    const at = now();
    await this.db
      .insertInto('settings')
      .values({ key, value: at, updated_at: at })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: at, updated_at: at }))
      .execute();
  }
}
