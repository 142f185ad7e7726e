import type { MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { TokenRow } from '../db/schema.js';
import { OverairError } from '../errors.js';
import { scopeAllows, type Scope, type TokenService } from '../services/tokens.js';

export type AdminEnv = { Variables: { token: TokenRow; actor: string } };

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
    const token = await tokens.authenticate(match[1]);
    if (!token) {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new OverairError(401, 'invalid_token', 'The token is not valid (unknown or revoked)');
    }
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
