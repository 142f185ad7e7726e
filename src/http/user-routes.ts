import type { Context, Hono } from 'hono';
import type { Services } from '../services/index.js';
import { forbiddenToNonServerAdmin, isServerAdmin, requireServerAdmin, type AdminEnv } from './auth.js';
import * as a from './admin-schemas.js';
import { readJson } from './json-body.js';
import { parseInput } from './validation.js';
import * as s from './schemas.js';
import type { SessionCookies } from './session-cookie.js';
import { userJson } from './serialize.js';

type C = Context<AdminEnv>;

const usernameParam = (c: C) => parseInput(s.username, c.req.param('username'), 'user name');

/** Whether the request comes from the signed-in user of that name (through their session). */
const isSelf = (c: C, username: string | undefined) => {
  const principal = c.get('principal');
  return principal.kind === 'user' && c.get('session') !== undefined && principal.name === username;
};

/**
 * Dashboard users under /api/v1/users, for server admins only: users are people of the whole server,
 * and an app admin who could set roles could give themselves any app. A signed-in user may also
 * change their own password. Deleting a user or changing a password ends that user's sessions (this
 * one's too); changing roles takes effect at each session's next request.
 */
export function registerUserRoutes(api: Hono<AdminEnv>, services: Services, cookies: SessionCookies) {
  const serverAdmin = requireServerAdmin();

  api.get('/users', serverAdmin, async (c) => c.json({ items: (await services.users.list()).map(userJson) }));
  api.post('/users', serverAdmin, async (c) => {
    const input = parseInput(a.createUserBody, await readJson(c));
    const user = await services.users.create(input.username, input.password, input.grants, c.get('actor'));
    return c.json(userJson(user), 201);
  });
  api.patch('/users/:username', serverAdmin, async (c) => {
    const username = usernameParam(c);
    const { grants } = parseInput(a.updateUserBody, await readJson(c));
    const user = await services.users.setGrants(await services.users.idOf(username), grants, c.get('actor'));
    return c.json(userJson(user));
  });
  api.delete('/users/:username', serverAdmin, async (c) => {
    const username = usernameParam(c);
    const self = isSelf(c, username);
    await services.users.delete(username, c.get('actor'));
    if (self) cookies.clear(c);
    return c.json({ deleted: true });
  });
  api.put('/users/:username/password', async (c) => {
    const self = isSelf(c, c.req.param('username'));
    if (!self && !isServerAdmin(c)) throw forbiddenToNonServerAdmin(c, "Changing another user's password");
    const username = usernameParam(c);
    const { password } = parseInput(a.setPasswordBody, await readJson(c));
    await services.users.setPassword(username, password, c.get('actor'));
    if (self) cookies.clear(c);
    return c.json({ updated: true });
  });
}
