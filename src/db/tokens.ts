import type { Kysely } from 'kysely';
import type { Database, TokenRow } from './schema.js';
import { now } from './time.js';

export class TokensRepo {
  constructor(private readonly db: Kysely<Database>) {}

  findByHash(hash: string): Promise<TokenRow | undefined> {
    return this.db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
  }

  list(): Promise<TokenRow[]> {
    return this.db.selectFrom('tokens').selectAll().orderBy('id').execute();
  }

  async count(): Promise<number> {
    const row = await this.db
      .selectFrom('tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  insert(
    token: Pick<TokenRow, 'name' | 'hash' | 'server_admin' | 'all_apps_role'> & {
      expires_at?: string | null;
    },
  ): Promise<TokenRow> {
    return this.db
      .insertInto('tokens')
      .values({ ...token, created_at: now() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  async touch(id: number): Promise<void> {
    await this.db.updateTable('tokens').set({ last_used_at: now() }).where('id', '=', id).execute();
  }

  async delete(id: number): Promise<boolean> {
    const result = await this.db.deleteFrom('tokens').where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
