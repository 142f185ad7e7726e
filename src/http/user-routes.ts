import type { Context, Hono } from 'hono';
import { errors } from '../errors.js';
import type { Services } from '../services/index.js';
import { requireScope, type AdminEnv } from './auth.js';
import * as a from './admin-schemas.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import * as s from './schemas.js';
import type { SessionCookies } from './session-cookie.js';

type C = Context<AdminEnv>;

const usernameParam = (c: C) => parseInput(s.username, c.req.param('username'), 'user name');

/** Whether the request comes from the signed-in user of that name (through their session). */
const isSelf = (c: C, username: string | undefined) => {
  const principal = c.get('principal');
  return principal.kind === 'user' && c.get('session') !== undefined && principal.name === username;
};

/**
 * Dashboard users under /api/v1/users, for admins; a signed-in user may also change their own
 * password. Deleting a user or changing a password ends that user's sessions (this one's too).
 */
export function registerUserRoutes(api: Hono<AdminEnv>, services: Services, cookies: SessionCookies) {
  const admin = requireScope('admin');

  api.get('/users', admin, async (c) => c.json({ items: await services.users.list() }));
  api.post('/users', admin, async (c) => {
    const input = parseInput(a.createUserBody, await readJson(c));
    const user = await services.users.create(input.username, input.password, input.scope, c.get('actor'));
    return c.json(user, 201);
  });
  api.delete('/users/:username', admin, async (c) => {
    const username = usernameParam(c);
    const self = isSelf(c, username);
    await services.users.delete(username, c.get('actor'));
    if (self) cookies.clear(c);
    return c.json({ deleted: true });
  });
  api.put('/users/:username/password', async (c) => {
    const self = isSelf(c, c.req.param('username'));
    const { scope } = c.get('principal');
    if (!self && scope !== 'admin') {
      throw errors.forbidden({
        action: "Changing another user's password",
        needed: 'admin',
        holder: 'this user',
        held: scope,
      });
    }
    const username = usernameParam(c);
    const { password } = parseInput(a.setPasswordBody, await readJson(c));
    await services.users.setPassword(username, password, c.get('actor'));
    if (self) cookies.clear(c);
    return c.json({ updated: true });
  });
}
