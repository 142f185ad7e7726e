import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { OverairError } from '../errors.js';
import type { Services } from '../services/index.js';
import { actorOf, type ActiveSession, type Credentials } from '../services/sessions.js';
import { checkCsrf, sessionOf, type AdminEnv } from './auth.js';
import { parseInput, readJson } from './errors.js';
import * as s from './schemas.js';
import type { SessionCookies } from './session-cookie.js';

const signInBody = z
  .object({
    username: s.username.optional(),
    password: s.password.optional(),
    token: z.string().min(1).max(1024).optional(),
  })
  .strict()
  .refine(
    (input) =>
      input.token !== undefined
        ? input.username === undefined && input.password === undefined
        : input.username !== undefined && input.password !== undefined,
    'give {username, password} or {token}',
  );

/** The answer of every session route that finds one: who is signed in, and the CSRF token. */
const sessionJson = (session: ActiveSession) => ({
  user: { name: session.principal.name, scope: session.principal.scope, kind: session.principal.kind },
  csrf_token: session.csrfToken,
  expires_at: session.expiresAt,
});

function notSignedIn(c: Context<AdminEnv>): OverairError {
  c.set('notAGuess', true);
  c.header('WWW-Authenticate', 'Bearer');
  return new OverairError(401, 'unauthorized', 'You are not signed in');
}

/**
 * The dashboard's sign-in, under /api/v1/session, registered before the token check (these routes
 * are how one gets a session). Failed sign-ins are 401s, so the failed-login limit counts them.
 */
export function registerSessionRoutes(api: Hono<AdminEnv>, services: Services, cookies: SessionCookies) {
  api.post('/session', async (c) => {
    // A sign-in started by another site (a hidden form) would sign the browser in as someone else.
    const site = c.req.header('sec-fetch-site');
    if (site === 'cross-site' || site === 'same-site') {
      throw new OverairError(403, 'cross_site_request', 'Sign in from the dashboard itself');
    }
    const input = parseInput(signInBody, await readJson(c));
    const credentials: Credentials =
      input.token !== undefined
        ? { token: input.token }
        : { username: input.username!, password: input.password! };
    const opened = await services.sessions.signIn(credentials);
    if (!opened) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new OverairError(
        401,
        'invalid_credentials',
        'token' in credentials
          ? 'The token is not valid (unknown, revoked or expired)'
          : 'Wrong user name or password',
      );
    }
    // The session this browser had, if any, ends: one browser, one session.
    const previous = cookies.read(c);
    if (previous !== undefined) {
      const found = await services.sessions.resolve(previous);
      if (found.status === 'ok') await services.sessions.end(found.session.id);
    }
    c.set('actor', actorOf(opened.principal));
    cookies.set(c, opened.secret, opened.expiresAt);
    return c.json(sessionJson(opened));
  });

  api.get('/session', async (c) => {
    const secret = cookies.read(c);
    if (secret === undefined) throw notSignedIn(c);
    const session = await sessionOf(c, services.sessions, cookies, secret);
    c.set('actor', actorOf(session.principal));
    return c.json(sessionJson(session));
  });

  api.delete('/session', async (c) => {
    const secret = cookies.read(c);
    if (secret !== undefined) {
      const found = await services.sessions.resolve(secret);
      if (found.status === 'ok') {
        c.set('actor', actorOf(found.session.principal));
        checkCsrf(c, found.session);
        await services.sessions.end(found.session.id);
      }
    }
    cookies.clear(c);
    return c.json({ signed_out: true });
  });
}
