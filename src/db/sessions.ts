import type { Kysely } from 'kysely';
import type { Database, SessionRow, TokenRow, UserRow } from './schema.js';
import { now } from './time.js';

/** A session with whoever it belongs to: its user, or the token it was opened with. */
export interface SessionWithOwner {
  session: SessionRow;
  user: Pick<UserRow, 'id' | 'username' | 'scope'> | null;
  token: Pick<TokenRow, 'id' | 'name' | 'scope' | 'expires_at'> | null;
}

export class SessionsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  insert(session: Omit<SessionRow, 'id' | 'created_at'>): Promise<SessionRow> {
    return this.db
      .insertInto('sessions')
      .values({ ...session, created_at: now() })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** One indexed lookup with the owner joined in, for every cookie-authenticated request. */
  async findByHash(hash: string): Promise<SessionWithOwner | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .leftJoin('users', 'users.id', 'sessions.user_id')
      .leftJoin('tokens', 'tokens.id', 'sessions.token_id')
      .selectAll('sessions')
      .select([
        'users.username as user_username',
        'users.scope as user_scope',
        'tokens.name as token_name',
        'tokens.scope as token_scope',
        'tokens.expires_at as token_expires_at',
      ])
      .where('sessions.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    const { user_username, user_scope, token_name, token_scope, token_expires_at, ...session } = row;
    return {
      session,
      user:
        session.user_id !== null && user_username !== null && user_scope !== null
          ? { id: session.user_id, username: user_username, scope: user_scope }
          : null,
      token:
        session.token_id !== null && token_name !== null && token_scope !== null
          ? { id: session.token_id, name: token_name, scope: token_scope, expires_at: token_expires_at }
          : null,
    };
  }

  async delete(id: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
  }

  /** Ends every session of a user; returns how many there were. */
  async deleteForUser(userId: number): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now()).execute();
  }
}
