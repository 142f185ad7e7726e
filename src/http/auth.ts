import type { Context, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Logger } from 'pino';
import type { AuditRepo } from '../db/audit.js';
import type { TokenRow } from '../db/schema.js';
import { OverairError } from '../errors.js';
import { scopeAllows, type Scope, type TokenService } from '../services/tokens.js';
import type { FailedAuthLimiter } from './auth-limiter.js';
import { appId } from './schemas.js';

/** `token` and `actor` are set once the token is accepted; `address` by the first middleware. */
export type AdminEnv = { Variables: { token: TokenRow; actor: string; address: string } };

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
 * Retry-After), valid token or not, so that answers tell a guesser nothing more; counts each 401.
 * Device routes never pass here: a 429 would stop the plugin from checking at all.
 */
export function limitFailedAuth(limiter: FailedAuthLimiter): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    if (!limiter.enabled) return next();
    const address = c.get('address');
    const waitMs = limiter.retryAfterMs(address);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      c.header('Retry-After', String(seconds));
      throw new OverairError(
        429,
        'too_many_failed_logins',
        `Too many failed authentications from this address; try again in ${seconds} seconds`,
      );
    }
    await next();
    if (c.res.status === 401) limiter.recordFailure(address);
  });
}

/** Every admin route needs a bearer token; which scope it needs is checked per route. */
export function requireToken(tokens: TokenService): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new OverairError(
        401,
        'unauthorized',
        'This route needs an admin token: Authorization: Bearer <token>',
      );
    }
    const result = await tokens.authenticate(match[1]);
    if (result.status === 'expired') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token", error_description="expired"');
      throw new OverairError(401, 'token_expired', 'The token has expired; ask an admin for a new one');
    }
    if (result.status === 'invalid') {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new OverairError(401, 'invalid_token', 'The token is not valid (unknown or revoked)');
    }
    const { token } = result;
    c.set('token', token);
    c.set('actor', `token:${token.name}`);
    await next();
  });
}

export function requireScope(needed: Scope): MiddlewareHandler<AdminEnv> {
  return createMiddleware<AdminEnv>(async (c, next) => {
    const held = c.get('token').scope;
    if (!scopeAllows(held, needed)) {
      throw new OverairError(
        403,
        'forbidden',
        `This action needs a token with the "${needed}" scope; this one has "${held}"`,
      );
    }
    await next();
  });
}
