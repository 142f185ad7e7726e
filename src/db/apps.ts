import type { Kysely } from 'kysely';
import type { AppRow, Database } from './schema.js';
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

  list(): Promise<AppRow[]> {
    return this.db.selectFrom('apps').selectAll().orderBy('id').execute();
  }

  async insert(id: string, name: string): Promise<AppRow> {
    const row = { id, name, created_at: now() };
    await this.db.insertInto('apps').values(row).execute();
    return row;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('apps').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
