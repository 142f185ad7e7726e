import type { Kysely } from 'kysely';
import type { Database, UserRow } from './schema.js';
import { now } from './time.js';

export class UsersRepo {
  constructor(private readonly db: Kysely<Database>) {}

  findByName(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  list(): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('id').execute();
  }

  async count(scope?: UserRow['scope']): Promise<number> {
    let query = this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n'));
    if (scope) query = query.where('scope', '=', scope);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  insert(user: Pick<UserRow, 'username' | 'password_hash' | 'scope'>): Promise<UserRow> {
    const at = now();
    return this.db
      .insertInto('users')
      .values({ ...user, created_at: at, password_changed_at: at })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash, password_changed_at: now() })
      .where('id', '=', id)
      .execute();
  }

  /** Deletes the user; their sessions go with them (foreign key cascade). */
  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
