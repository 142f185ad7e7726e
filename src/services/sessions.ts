import { randomBytes } from 'node:crypto';
import { safeEqual, sha256Hex } from '../crypto/hash.js';
import type { Repos } from '../db/index.js';
import { isExpired, type Scope, type TokenService } from './tokens.js';
import type { UserService } from './users.js';

/** Who a request acts as: a token (bearer, or a session opened with it) or a signed-in user. */
export interface Principal {
  kind: 'token' | 'user';
  id: number;
  name: string;
  scope: Scope;
}

/** The audit log's name for a principal: `token:NAME` or `user:NAME`. */
export const actorOf = (principal: Principal): string => `${principal.kind}:${principal.name}`;

export interface ActiveSession {
  id: number;
  principal: Principal;
  csrfToken: string;
  expiresAt: string;
}

/** A new session; `secret` goes into the cookie and is never stored. */
export interface OpenedSession extends ActiveSession {
  secret: string;
}

export type Credentials = { username: string; password: string } | { token: string };

export type SessionLookup =
  { status: 'ok'; session: ActiveSession } | { status: 'expired' } | { status: 'invalid' };

/** 256 random bits, base64url: 43 characters. */
const newSecret = () => randomBytes(32).toString('base64url');
const SECRET_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/**
 * Dashboard sessions. The cookie carries a 256-bit random secret; the database keeps its sha256, the
 * owner (user or token), a CSRF token and the expiry. Deleting the user or revoking the token deletes
 * its sessions; a token's session never outlives the token.
 */
export class SessionService {
  constructor(
    private readonly repos: Repos,
    private readonly tokens: TokenService,
    private readonly users: UserService,
    readonly ttlSeconds: number,
  ) {}

  /** Opens a session for valid credentials; null for wrong ones (whatever is wrong with them). */
  async signIn(credentials: Credentials): Promise<OpenedSession | null> {
    let principal: Principal;
    let expiresAt = Date.now() + this.ttlSeconds * 1000;
    if ('token' in credentials) {
      const result = await this.tokens.authenticate(credentials.token);
      if (result.status !== 'ok') return null;
      const { token } = result;
      principal = { kind: 'token', id: token.id, name: token.name, scope: token.scope };
      if (token.expires_at !== null) expiresAt = Math.min(expiresAt, Date.parse(token.expires_at));
    } else {
      const user = await this.users.verify(credentials.username, credentials.password);
      if (!user) return null;
      principal = { kind: 'user', id: user.id, name: user.username, scope: user.scope };
    }
    await this.repos.sessions.deleteExpired();
    const secret = newSecret();
    const session = await this.repos.sessions.insert({
      hash: sha256Hex(secret),
      user_id: principal.kind === 'user' ? principal.id : null,
      token_id: principal.kind === 'token' ? principal.id : null,
      csrf_token: newSecret(),
      expires_at: new Date(expiresAt).toISOString(),
    });
    return {
      id: session.id,
      secret,
      principal,
      csrfToken: session.csrf_token,
      expiresAt: session.expires_at,
    };
  }

  /** The live session a cookie's secret opens. An expired one is deleted as it is found. */
  async resolve(secret: string): Promise<SessionLookup> {
    if (!SECRET_FORMAT.test(secret)) return { status: 'invalid' };
    const hash = sha256Hex(secret);
    const found = await this.repos.sessions.findByHash(hash);
    if (!found || !safeEqual(hash, found.session.hash)) return { status: 'invalid' };
    const { session, user, token } = found;
    const owner: Principal | null = user
      ? { kind: 'user', id: user.id, name: user.username, scope: user.scope }
      : token
        ? { kind: 'token', id: token.id, name: token.name, scope: token.scope }
        : null;
    if (!owner) {
      await this.repos.sessions.delete(session.id);
      return { status: 'invalid' };
    }
    if (Date.parse(session.expires_at) <= Date.now() || (token !== null && isExpired(token))) {
      await this.repos.sessions.delete(session.id);
      return { status: 'expired' };
    }
    return {
      status: 'ok',
      session: {
        id: session.id,
        principal: owner,
        csrfToken: session.csrf_token,
        expiresAt: session.expires_at,
      },
    };
  }

  async end(id: number): Promise<void> {
    await this.repos.sessions.delete(id);
  }
}
