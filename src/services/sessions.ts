import { randomBytes } from 'node:crypto';
import { safeEqual, sha256Hex } from '../crypto/hash.js';
import type { Repos } from '../db/index.js';
import type { UserRow } from '../db/schema.js';
import type { SessionListing } from '../db/sessions.js';
import { errors } from '../errors.js';
import { grantsOfRow } from '../db/grants.js';
import type { Grants } from '../domain/roles.js';
import { isExpired, type TokenService } from './tokens.js';
import type { TotpService } from './totp.js';
import type { UserService } from './users.js';

/**
 * Who a request acts as: a token (bearer, or a session opened with it) or a signed-in user, with the
 * roles it holds, loaded when the token or session was authenticated (ask with `may(grantsOf(p), …)`).
 */
export interface Principal {
  kind: 'token' | 'user';
  id: number;
  name: string;
  grants: Grants;
}

/** The audit log's name for a principal: `token:NAME` or `user:NAME`. */
export const actorOf = (principal: Principal): string => `${principal.kind}:${principal.name}`;

export interface ActiveSession {
  id: number;
  principal: Principal;
  csrfToken: string;
  expiresAt: string;
  /**
   * The user is an admin without two-factor sign-in while OVERAIR_REQUIRE_TOTP_FOR_ADMINS is on:
   * the session may only enrol (worked out at each request, so enrolling lifts it at once).
   */
  totpEnrolmentRequired: boolean;
}

/** A new session; `secret` goes into the cookie and is never stored. */
export interface OpenedSession extends ActiveSession {
  secret: string;
}

/** A password sign-in gives `code` (TOTP or recovery code) when the user has two-factor sign-in. */
export type Credentials = { username: string; password: string; code?: string } | { token: string };

/** Where a sign-in comes from, kept with the session for its owner to recognise it. */
export interface SignInOrigin {
  userAgent?: string;
  address?: string;
}

/**
 * What a sign-in ends in. `code_needed`: the password was right, but a code is needed (no
 * session: the password alone never opens one); `invalid_code`: the code was wrong or used.
 */
export type SignInResult =
  | { status: 'ok'; session: OpenedSession }
  | { status: 'invalid' }
  | { status: 'code_needed' }
  | { status: 'invalid_code' };

/** How often a session's last_used_at is written at most. */
const TOUCH_EVERY_MS = 60_000;

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
    private readonly totp: TotpService,
    readonly ttlSeconds: number,
    private readonly requireTotpForAdmins = false,
  ) {}

  /**
   * Server admins must enrol first under OVERAIR_REQUIRE_TOTP_FOR_ADMINS (app admins need not). A
   * user of single sign-on is never asked to: their second factor is the provider's business
   * (docs/sso.md), and they have no password a code would back up.
   */
  private enrolmentRequired(user: {
    server_admin: number;
    totp_enabled_at: string | null;
    oidc_subject: string | null;
  }): boolean {
    return (
      this.requireTotpForAdmins &&
      user.server_admin === 1 &&
      user.totp_enabled_at === null &&
      user.oidc_subject === null
    );
  }

  /**
   * Opens a session for valid credentials. A user with two-factor sign-in also needs a valid code;
   * it is looked at only once the password is right, so a wrong password never uses up a recovery
   * code, and `totp_required` tells only someone who knows the password that a code is needed.
   */
  async signIn(credentials: Credentials, origin: SignInOrigin = {}): Promise<SignInResult> {
    let principal: Principal;
    let totpEnrolmentRequired = false;
    let expiresAt = Date.now() + this.ttlSeconds * 1000;
    if ('token' in credentials) {
      const result = await this.tokens.authenticate(credentials.token);
      if (result.status !== 'ok') return { status: 'invalid' };
      const { token } = result;
      principal = { kind: 'token', id: token.id, name: token.name, grants: result.grants };
      if (token.expires_at !== null) expiresAt = Math.min(expiresAt, Date.parse(token.expires_at));
    } else {
      const user = await this.users.verify(credentials.username, credentials.password);
      if (!user) return { status: 'invalid' };
      if (user.totp_enabled_at !== null) {
        if (credentials.code === undefined) return { status: 'code_needed' };
        if (!(await this.totp.checkCode(user, credentials.code))) return { status: 'invalid_code' };
      }
      totpEnrolmentRequired = this.enrolmentRequired(user);
      principal = { kind: 'user', id: user.id, name: user.username, grants: await this.users.grantsOf(user) };
    }
    return { status: 'ok', session: await this.open(principal, expiresAt, totpEnrolmentRequired, origin) };
  }

  /**
   * Opens a session for a user who signed in elsewhere: through single sign-on, whose provider
   * checked who they are (src/services/sso.ts).
   */
  async openForUser(user: UserRow, origin: SignInOrigin = {}): Promise<OpenedSession> {
    const principal: Principal = {
      kind: 'user',
      id: user.id,
      name: user.username,
      grants: await this.users.grantsOf(user),
    };
    const expiresAt = Date.now() + this.ttlSeconds * 1000;
    return this.open(principal, expiresAt, this.enrolmentRequired(user), origin);
  }

  private async open(
    principal: Principal,
    expiresAt: number,
    totpEnrolmentRequired: boolean,
    origin: SignInOrigin,
  ): Promise<OpenedSession> {
    await this.repos.sessions.deleteExpired();
    const secret = newSecret();
    const session = await this.repos.sessions.insert({
      hash: sha256Hex(secret),
      user_id: principal.kind === 'user' ? principal.id : null,
      token_id: principal.kind === 'token' ? principal.id : null,
      csrf_token: newSecret(),
      expires_at: new Date(expiresAt).toISOString(),
      user_agent: origin.userAgent?.slice(0, 256) ?? null,
      address: origin.address ?? null,
    });
    return {
      id: session.id,
      secret,
      principal,
      csrfToken: session.csrf_token,
      expiresAt: session.expires_at,
      totpEnrolmentRequired,
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
      ? {
          kind: 'user',
          id: user.id,
          name: user.username,
          grants: grantsOfRow(user, await this.repos.grants.appRoles({ userId: user.id })),
        }
      : token
        ? {
            kind: 'token',
            id: token.id,
            name: token.name,
            grants: grantsOfRow(token, await this.repos.grants.appRoles({ tokenId: token.id })),
          }
        : null;
    if (!owner) {
      await this.repos.sessions.delete(session.id);
      return { status: 'invalid' };
    }
    if (Date.parse(session.expires_at) <= Date.now() || (token !== null && isExpired(token))) {
      await this.repos.sessions.delete(session.id);
      return { status: 'expired' };
    }
    const now = Date.now();
    if (session.last_used_at === null || Date.parse(session.last_used_at) <= now - TOUCH_EVERY_MS) {
      await this.repos.sessions.touch(
        session.id,
        new Date(now).toISOString(),
        new Date(now - TOUCH_EVERY_MS).toISOString(),
      );
    }
    return {
      status: 'ok',
      session: {
        id: session.id,
        principal: owner,
        csrfToken: session.csrf_token,
        expiresAt: session.expires_at,
        totpEnrolmentRequired: user !== null && this.enrolmentRequired(user),
      },
    };
  }

  async end(id: number): Promise<void> {
    await this.repos.sessions.delete(id);
  }

  /** The live sessions of a user or token (`owner`), or of everyone (an admin's view). */
  list(owner?: Principal): Promise<SessionListing[]> {
    if (owner === undefined) return this.repos.sessions.list();
    return this.repos.sessions.list(owner.kind === 'user' ? { userId: owner.id } : { tokenId: owner.id });
  }

  /**
   * Ends a session by id: one of `owner`'s, or anyone's when no owner is given (an admin). A session
   * of someone else is "not found" to a non-admin, as if it did not exist.
   */
  async endById(id: number, actor: string, owner?: Principal): Promise<void> {
    const session = await this.repos.sessions.findById(id);
    const owned =
      session !== undefined &&
      (owner === undefined ||
        (owner.kind === 'user' ? session.user_id === owner.id : session.token_id === owner.id));
    if (!session || !owned || Date.parse(session.expires_at) <= Date.now()) {
      throw errors.sessionNotFound({ id });
    }
    await this.repos.transaction(async (repos) => {
      await repos.sessions.delete(id);
      await repos.audit.record({
        actor,
        action: 'session.end',
        target: String(id),
        detail: { user_id: session.user_id, token_id: session.token_id },
      });
    });
  }
}
