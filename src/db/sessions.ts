import type { Kysely } from 'kysely';
import type { Database, SessionRow, TokenRow, UserRow } from './schema.js';
import { now } from './time.js';

/** A session with whoever it belongs to: its user, or the token it was opened with. */
export interface SessionWithOwner {
  session: SessionRow;
  user: Pick<
    UserRow,
    'id' | 'username' | 'server_admin' | 'all_apps_role' | 'totp_enabled_at' | 'oidc_subject'
  > | null;
  token: Pick<TokenRow, 'id' | 'name' | 'server_admin' | 'all_apps_role' | 'expires_at'> | null;
}

/** A live session as listed to its owner or an admin: never its hash nor its CSRF token. */
export interface SessionListing {
  id: number;
  /** The user's name, or null for a session opened with a token. */
  user: string | null;
  /** The token's name, or null for a user's session. */
  token: string | null;
  created_at: string;
  last_used_at: string | null;
  expires_at: string;
  user_agent: string | null;
  address: string | null;
}

export class SessionsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  insert(session: Omit<SessionRow, 'id' | 'created_at' | 'last_used_at'>): Promise<SessionRow> {
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
        'users.server_admin as user_server_admin',
        'users.all_apps_role as user_all_apps_role',
        'users.totp_enabled_at as user_totp_enabled_at',
        'users.oidc_subject as user_oidc_subject',
        'tokens.name as token_name',
        'tokens.server_admin as token_server_admin',
        'tokens.all_apps_role as token_all_apps_role',
        'tokens.expires_at as token_expires_at',
      ])
      .where('sessions.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    const {
      user_username,
      user_server_admin,
      user_all_apps_role,
      user_totp_enabled_at,
      user_oidc_subject,
      token_name,
      token_server_admin,
      token_all_apps_role,
      token_expires_at,
      ...session
    } = row;
    return {
      session,
      user:
        session.user_id !== null && user_username !== null && user_server_admin !== null
          ? {
              id: session.user_id,
              username: user_username,
              server_admin: user_server_admin,
              all_apps_role: user_all_apps_role,
              totp_enabled_at: user_totp_enabled_at,
              oidc_subject: user_oidc_subject,
            }
          : null,
      token:
        session.token_id !== null && token_name !== null && token_server_admin !== null
          ? {
              id: session.token_id,
              name: token_name,
              server_admin: token_server_admin,
              all_apps_role: token_all_apps_role,
              expires_at: token_expires_at,
            }
          : null,
    };
  }

  /** Live sessions, newest first: all of them, or a user's, or a token's. */
  async list(owner: { userId?: number; tokenId?: number } = {}): Promise<SessionListing[]> {
    let query = this.db
      .selectFrom('sessions')
      .leftJoin('users', 'users.id', 'sessions.user_id')
      .leftJoin('tokens', 'tokens.id', 'sessions.token_id')
      .select([
        'sessions.id',
        'users.username as user',
        'tokens.name as token',
        'sessions.created_at',
        'sessions.last_used_at',
        'sessions.expires_at',
        'sessions.user_agent',
        'sessions.address',
      ])
      .where('sessions.expires_at', '>', now());
    if (owner.userId !== undefined) query = query.where('sessions.user_id', '=', owner.userId);
    if (owner.tokenId !== undefined) query = query.where('sessions.token_id', '=', owner.tokenId);
    return query.orderBy('sessions.id', 'desc').execute();
  }

  findById(id: number): Promise<SessionRow | undefined> {
    return this.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Sets last_used_at to `at` unless it is already `since` or later (one write a minute at most). */
  async touch(id: number, at: string, since: string): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', since)]))
      .execute();
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
