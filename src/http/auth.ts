import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import { safeEqual } from '../crypto/hash.js';
import type { AuditRepo } from '../db/audit.js';
import type { TokenRow } from '../db/schema.js';
import { OverairError, errors } from '../errors.js';
import { actorOf, type ActiveSession, type Principal, type SessionService } from '../services/sessions.js';
import { adminsSomeApp, grantsOf, may, type Role } from '../domain/roles.js';
import type { TokenService } from '../services/tokens.js';
import type { FailedAuthLimiter } from './shared-auth-limiter.js';
import { appId } from './schemas.js';
import type { SessionCookies } from './session-cookie.js';

/**
 * Set once the request is authenticated: `principal` (token or user) and `actor` (its audit name);
 * `token` for bearer tokens, `session` for the session cookie. `address` is set by the first
 * middleware; `notAGuess` marks a 401 the failed-login limit does not count, `attemptCounted` one
 * that the credential check already counted (countedAttempt).
 */
export type AdminEnv = {
  Variables: {
    token: TokenRow | undefined;
    session: ActiveSession | undefined;
    principal: Principal;
    actor: string;
    address: string;
    notAGuess: boolean | undefined;
    attemptCounted: boolean | undefined;
  };
};

/** The audit action of the entry every admin request leaves (besides the entries of mutations). */
export const REQUEST_AUDIT_ACTION = 'http.request';

/** Longest path kept in a request entry: enough for any real route, not for a padded one. */
const MAX_AUDITED_PATH = 512;

/**
 * The first middleware of the admin API: works out the client's address, and once the request is
 * answered, whatever the answer (refusals included: 401, 403, 429), records who asked for what in
 * the audit log: actor (token name or "anonymous"), method, path without its query string (which
 * may carry a session key), status, address, and the error code of a refusal. A failed write is
 * logged, never turned into a failed request.
 */
export function auditRequests(
  audit: AuditRepo,
  log: Logger,
  addressOf: (c: Context) => string,
): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    const address = addressOf(c);
    c.set('address', address);
    await next();
    const { method } = c.req;
    const path = c.req.path.slice(0, MAX_AUDITED_PATH);
    const status = c.res.status;
    const error = c.error instanceof OverairError ? c.error.code : undefined;
    await audit
      .record({
        actor: (c.get('actor') as string | undefined) ?? 'anonymous',
        action: REQUEST_AUDIT_ACTION,
        appId: appOfPath(path),
        target: `${method} ${path}`,
        detail: { method, path, status, address, ...(error !== undefined && { error }) },
      })
      .catch((failure: unknown) => log.error({ err: failure }, 'could not write the audit entry'));
  });
}

/** The app a path is about (so `GET /audit?app=` shows its requests too), when it names a valid one. */
function appOfPath(path: string): string | null {
  const segment = /^\/api\/v1\/apps\/([^/]+)/.exec(path)?.[1];
  if (segment === undefined) return null;
  try {
    const id = decodeURIComponent(segment);
    return appId.safeParse(id).success ? id : null;
  } catch {
    return null;
  }
}

/**
 * Refuses every admin request from an address that failed to authenticate too often (429 with
 * Retry-After), valid token or not, so that answers tell a guesser nothing more; counts each 401,
 * but those of an ended session (its 256-bit secret cannot be guessed, and a dashboard left open
 * would lock its user out). A 401 of a credential check (a bearer token, a sign-in) was counted by
 * countedAttempt already, before the check finished; this counts the others (no credential at all).
 * Device routes never pass here: a 429 would stop the plugin from checking.
 */
export function limitFailedAuth(limiter: FailedAuthLimiter): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    if (!limiter.enabled) return next();
    const address = c.get('address');
    const waitMs = limiter.retryAfterMs(address);
    if (waitMs > 0) throw tooManyFailures(c, waitMs);
    await next();
    if (c.res.status === 401 && !c.get('notAGuess') && !c.get('attemptCounted')) {
      await limiter.record(address);
    }
  });
}

function tooManyFailures(c: Context, waitMs: number): OverairError {
  const seconds = Math.ceil(waitMs / 1000);
  c.header('Retry-After', String(seconds));
  return errors.tooManyFailedLogins({ seconds });
}

/**
 * Runs one credential check of the request's address under the failed-login limit: refused with a
 * 429 when the address's failures plus its checks in flight already reach the limit, else counted
 * as a failure when `failed(result)` says so, in the same step that ends it. Counting the attempt
 * while it is checked, not after, is what makes the limit hold when guesses arrive all at once.
 * A check that throws (the database is down) is no failure.
 */
export async function countedAttempt<T>(
  c: Context<AdminEnv>,
  limiter: FailedAuthLimiter,
  check: () => Promise<T>,
  failed: (result: T) => boolean,
): Promise<T> {
  const address = c.get('address');
  const waitMs = limiter.begin(address);
  if (waitMs > 0) throw tooManyFailures(c, waitMs);
  let result: T;
  try {
    result = await check();
  } catch (error) {
    await limiter.end(address, false);
    throw error;
  }
  c.set('attemptCounted', true);
  await limiter.end(address, failed(result));
  return result;
}

/** The paths a session that may only enrol (OVERAIR_REQUIRE_TOTP_FOR_ADMINS) may still use. */
const ENROLMENT_PATHS = new Set(['/api/v1/whoami', '/api/v1/me/totp', '/api/v1/me/totp/confirm']);

/** Methods that change nothing: with the session cookie, all others need the X-CSRF-Token header. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every admin route needs a bearer token or the dashboard's session cookie; which scope it needs is
 * checked per route. An Authorization header wins over the cookie. A cookie-authenticated change
 * (POST, PUT, PATCH, DELETE) must also carry the session's CSRF token in X-CSRF-Token: browsers send
 * cookies by themselves, never that header. Bearer requests need none (browsers never add them).
 */
export function requireToken(
  tokens: TokenService,
  sessions: SessionService,
  cookies: SessionCookies,
  limiter: FailedAuthLimiter,
): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const cookie = header === '' ? cookies.read(c) : undefined;
    if (cookie !== undefined) {
      const session = await sessionOf(c, sessions, cookies, cookie);
      c.set('session', session);
      c.set('principal', session.principal);
      c.set('actor', actorOf(session.principal));
      checkCsrf(c, session);
      // An admin who must enrol first (OVERAIR_REQUIRE_TOTP_FOR_ADMINS) may only do that.
      if (session.totpEnrolmentRequired && !ENROLMENT_PATHS.has(c.req.path)) {
        throw errors.totpEnrolmentRequired();
      }
      return next();
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      c.header('WWW-Authenticate', 'Bearer');
      throw errors.unauthorized();
    }
    const secret = match[1];
    const result = await countedAttempt(
      c,
      limiter,
      () => tokens.authenticate(secret),
      (found) => found.status !== 'ok',
    );
    if (result.status === 'expired') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token", error_description="expired"');
      throw errors.tokenExpired();
    }
    if (result.status === 'invalid') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw errors.invalidToken();
    }
    const { token, grants } = result;
    c.set('token', token);
    c.set('principal', { kind: 'token', id: token.id, name: token.name, grants });
    c.set('actor', `token:${token.name}`);
    await next();
  });
}

/** The live session of a cookie, or a 401 (not counted as a failed login) that clears the cookie. */
export async function sessionOf(
  c: Context<AdminEnv>,
  sessions: SessionService,
  cookies: SessionCookies,
  secret: string,
): Promise<ActiveSession> {
  const found = await sessions.resolve(secret);
  if (found.status === 'ok') return found.session;
  c.set('notAGuess', true);
  cookies.clear(c);
  c.header('WWW-Authenticate', 'Bearer');
  throw found.status === 'expired' ? errors.sessionExpired() : errors.invalidSession();
}

/** A cookie-authenticated change needs X-CSRF-Token equal to the session's CSRF token. */
export function checkCsrf(c: Context<AdminEnv>, session: ActiveSession): void {
  if (SAFE_METHODS.has(c.req.method)) return;
  if (!safeEqual(c.req.header('x-csrf-token') ?? '', session.csrfToken)) {
    throw errors.csrfTokenInvalid();
  }
}

/**
 * What a route needs (the route table in src/http/openapi.ts states it for each, and the roles table
 * of docs/security.md is generated from it):
 * - `none`: nothing (sign-in, the API's description);
 * - `signed-in`: any token or user; what it then sees is what its roles allow (its own account, the
 *   apps it has a role on);
 * - a role (`read` < `publish` < `release` < `admin`): that role on the app in the path (`:appId`);
 *   on a route without an app in its path (tokens, webhooks, audit), `admin` of the app the request
 *   names or the object belongs to, and only server admins for server-wide things;
 * - `server-admin`: a server-wide admin (users, everyone's sessions, creating apps).
 */
export type Access = 'none' | 'signed-in' | Role | 'server-admin';

const holderOf = (c: Context<AdminEnv>) => (c.get('principal').kind === 'user' ? 'this user' : 'this token');

/**
 * Needs the role `needed` on the app in the path. Answered before anything is looked up, so the
 * answer is the same 403 whether the app exists or not: it tells nothing about other apps.
 */
export function requireRole(needed: Role): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    const appId = c.req.param('appId') ?? '';
    if (!may(grantsOf(c.get('principal')), appId, needed)) {
      throw errors.forbidden({
        action: 'This action',
        // Cut: the id is the caller's, unchecked yet (a valid one is at most 128 characters).
        needed: `the "${needed}" role on app "${appId.slice(0, 128)}"`,
        holder: holderOf(c),
      });
    }
    await next();
  });
}

/**
 * Needs admin of at least one app (or a server admin): the routes of tokens, webhooks and the audit
 * log, whose handlers then show and change only what belongs to the apps the caller administers.
 */
export function requireSomeAppAdmin(): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    if (!adminsSomeApp(grantsOf(c.get('principal')))) {
      throw errors.forbidden({
        action: 'This action',
        needed: 'the "admin" role on an app',
        holder: holderOf(c),
      });
    }
    await next();
  });
}

/** Whether the request's principal is a server-wide admin. */
export const isServerAdmin = (c: Context<AdminEnv>): boolean => grantsOf(c.get('principal')).serverAdmin;

/** Needs a server-wide admin (users, everyone's sessions, creating apps, server-wide things). */
export function requireServerAdmin(): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    if (!isServerAdmin(c)) throw forbiddenToNonServerAdmin(c, 'This action');
    await next();
  });
}

/** The 403 of something only server admins may do. */
export const forbiddenToNonServerAdmin = (c: Context<AdminEnv>, action: string): OverairError =>
  errors.forbidden({ action, needed: 'a server admin', holder: holderOf(c) });

/** The 403 of an app-scoped action done in a handler (the app named in the body or the query). */
export function requireRoleOn(c: Context<AdminEnv>, appId: string, needed: Role, action: string): void {
  if (!may(grantsOf(c.get('principal')), appId, needed)) {
    throw errors.forbidden({ action, needed: `the "${needed}" role on app "${appId}"`, holder: holderOf(c) });
  }
}
