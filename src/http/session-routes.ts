import type { Context, Hono } from 'hono';
import { errors, type OverairError } from '../errors.js';
import type { Services } from '../services/index.js';
import { actorOf, type ActiveSession, type Credentials } from '../services/sessions.js';
import type { AdminGuard } from './admin-routes.js';
import { checkCsrf, countedAttempt, sessionOf, type AdminEnv } from './auth.js';
import * as a from './admin-schemas.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import { principalJson } from './serialize.js';
import type { SessionCookies } from './session-cookie.js';

/** The answer of every session route that finds one: who is signed in, and the CSRF token. */
const sessionJson = (session: ActiveSession) => ({
  user: (({ id: _id, ...user }) => user)(principalJson(session.principal)),
  csrf_token: session.csrfToken,
  expires_at: session.expiresAt,
  totp_enrolment_required: session.totpEnrolmentRequired,
});

function notSignedIn(c: Context<AdminEnv>): OverairError {
  c.set('notAGuess', true);
  c.header('WWW-Authenticate', 'Bearer');
  return errors.unauthorized();
}

/**
 * Refuses a sign-in that a browser sends from a page of another origin (it always sends Origin with
 * a POST): another site's form or script would otherwise sign the browser in as someone else, or use
 * it to guess passwords. Ours is OVERAIR_PUBLIC_URL's origin when set; else the request's own host
 * (its scheme is not compared: behind a TLS proxy without OVERAIR_TRUST_PROXY the server cannot tell
 * it). No Origin at all is a CLI or curl, not a browser, and is let through.
 */
function checkOrigin(c: Context<AdminEnv>, guard: Pick<AdminGuard, 'publicUrl' | 'trustProxy'>): void {
  const origin = c.req.header('origin');
  if (origin === undefined) return;
  let allowed: boolean;
  try {
    const from = new URL(origin);
    if (guard.publicUrl !== undefined) {
      allowed = from.origin === new URL(guard.publicUrl).origin;
    } else {
      const forwarded = guard.trustProxy
        ? c.req.header('x-forwarded-host')?.split(',').at(-1)?.trim()
        : undefined;
      const host = forwarded || c.req.header('host') || new URL(c.req.url).host;
      allowed = from.host === host.toLowerCase();
    }
  } catch {
    allowed = false; // "null" (a sandboxed page, a file) or garbage
  }
  if (!allowed) {
    throw errors.crossOriginRequest();
  }
}

/**
 * The dashboard's sign-in, under /api/v1/session, registered before the token check (these routes
 * are how one gets a session). Failed sign-ins are 401s, counted by the failed-login limit while
 * they are checked.
 */
export function registerSessionRoutes(
  api: Hono<AdminEnv>,
  services: Services,
  cookies: SessionCookies,
  guard: Pick<AdminGuard, 'limiter' | 'publicUrl' | 'trustProxy'>,
) {
  api.post('/session', async (c) => {
    // A sign-in started by another site (a hidden form) would sign the browser in as someone else.
    const site = c.req.header('sec-fetch-site');
    if (site === 'cross-site' || site === 'same-site') {
      throw errors.crossSiteRequest();
    }
    checkOrigin(c, guard);
    const input = parseInput(a.signInBody, await readJson(c));
    // Turned off, a password is not even checked: no answer tells whether it was right.
    if (input.token === undefined && !services.passwordSignIn) {
      c.set('notAGuess', true);
      throw errors.passwordSignInDisabled();
    }
    const credentials: Credentials =
      input.token !== undefined
        ? { token: input.token }
        : { username: input.username!, password: input.password!, code: input.code };
    const origin = { userAgent: c.req.header('user-agent'), address: c.get('address') };
    // A missing code after the right password is no failed login: the dashboard asks for it next.
    const result = await countedAttempt(
      c,
      guard.limiter,
      () => services.sessions.signIn(credentials, origin),
      (answer) => answer.status === 'invalid' || answer.status === 'invalid_code',
    );
    if (result.status !== 'ok') {
      c.header('WWW-Authenticate', 'Bearer');
      if (result.status === 'code_needed') throw errors.totpRequired();
      if (result.status === 'invalid_code') throw errors.invalidTotpCode();
      throw errors.invalidCredentials({ credential: 'token' in credentials ? 'token' : 'password' });
    }
    const opened = result.session;
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
