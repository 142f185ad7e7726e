import type { Context, Hono } from 'hono';
import { errors } from '../errors.js';
import type { Services } from '../services/index.js';
import type { Principal } from '../services/sessions.js';
import { countedAttempt, requireServerAdmin, type AdminEnv } from './auth.js';
import * as a from './admin-schemas.js';
import { readJson } from './json-body.js';
import * as s from './schemas.js';
import type { SessionCookies } from './session-cookie.js';
import type { FailedAuthLimiter } from './shared-auth-limiter.js';
import { parseInput } from './validation.js';

type C = Context<AdminEnv>;

/** The user signed in with this request's session; two-factor sign-in is theirs, not a token's. */
function signedInUser(c: C): Principal {
  const principal = c.get('principal');
  if (principal.kind !== 'user' || c.get('session') === undefined) throw errors.userSessionRequired();
  return principal;
}

const sessionId = (c: C) => parseInput(a.numericId, c.req.param('id'), 'session id');

/**
 * The signed-in person's own account under /api/v1/me (two-factor sign-in, sessions), and the
 * admin's view of everyone's sessions. A wrong code is a 401 `invalid_totp_code` and counts as a
 * failed login, like a wrong code at sign-in: a stolen session must not be a way to guess codes.
 */
export function registerAccountRoutes(
  api: Hono<AdminEnv>,
  services: Services,
  cookies: SessionCookies,
  limiter: FailedAuthLimiter,
) {
  // Other users' two-factor sign-in and everyone's sessions: server-wide things, for server admins.
  const admin = requireServerAdmin();
  const checked = async <T>(c: C, check: () => Promise<T | null>): Promise<T> => {
    const result = await countedAttempt(c, limiter, check, (answer) => answer === null);
    if (result === null) throw errors.invalidTotpCode();
    return result;
  };

  api.get('/me/totp', async (c) => c.json(await services.totp.status(signedInUser(c).id)));
  api.post('/me/totp', async (c) => c.json(await services.totp.startEnrolment(signedInUser(c).id)));
  api.post('/me/totp/confirm', async (c) => {
    const user = signedInUser(c);
    const { code } = parseInput(a.totpCodeBody, await readJson(c));
    const codes = await checked(c, () => services.totp.confirm(user.id, code, c.get('actor')));
    return c.json({ enabled: true as const, recovery_codes: codes });
  });
  api.delete('/me/totp', async (c) => {
    const user = signedInUser(c);
    const { code } = parseInput(a.totpCodeBody, await readJson(c));
    await checked(c, async () =>
      (await services.totp.disable(user.id, code, c.get('actor'))) ? true : null,
    );
    return c.json({ enabled: false as const });
  });
  api.delete('/users/:username/totp', admin, async (c) => {
    const username = parseInput(s.username, c.req.param('username'), 'user name');
    await services.totp.reset(username, c.get('actor'));
    return c.json({ enabled: false as const });
  });

  const listed = async (c: C, owner?: Principal) => {
    const current = c.get('session')?.id;
    const items = await services.sessions.list(owner);
    return c.json({ items: items.map((item) => ({ ...item, current: item.id === current })) });
  };
  const end = async (c: C, owner?: Principal) => {
    const id = sessionId(c);
    await services.sessions.endById(id, c.get('actor'), owner);
    if (id === c.get('session')?.id) cookies.clear(c);
    return c.json({ ended: true as const });
  };
  api.get('/me/sessions', (c) => listed(c, c.get('principal')));
  api.delete('/me/sessions/:id', (c) => end(c, c.get('principal')));
  api.get('/sessions', admin, (c) => listed(c));
  api.delete('/sessions/:id', admin, (c) => end(c));
}
