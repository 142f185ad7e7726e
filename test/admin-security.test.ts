/**
 * The admin API's guards, on a real server: every route (read from the Hono app itself, so a new
 * route cannot be left out) refuses a missing, revoked or expired token with 401 and a token of too
 * small a scope with 403; too many failed authentications from one address get 429s for that
 * address only, never on device routes; every admin request, refused or not, is in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, deviceInfo, sendJson, startTestServer, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import type { Access } from '../src/http/auth.js';
import { roleAllows, ROLES, type Role } from '../src/domain/roles.js';

const APP = 'com.example.secure';
/** Another app: a role on it gives nothing on APP. */
const OTHER = 'com.example.other';

/**
 * What each admin route needs (src/http/auth.ts `Access`). The first test checks that this is exactly
 * the set of routes the app serves, so a route added without an entry here fails it. A role on a
 * route with `:appId` is that role on the app of the path; on the others (tokens, webhooks, audit)
 * `admin` is admin of some app, the handler then limiting what it shows and changes to the caller's
 * apps (test/roles.test.ts). "signed-in": any token or user. "server-admin": server admins only.
 * "session": the dashboard's sign-in, sign-in check and sign-out, open to all (test/sessions.test.ts
 * covers them). "public": open to all: the health probes (never audited, tested below) and the
 * OpenAPI document (test/openapi.test.ts).
 */
const ACCESS: Record<string, Access | 'session' | 'public'> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /api/v1/openapi.json': 'public',
  'POST /api/v1/session': 'session',
  'GET /api/v1/session': 'session',
  'DELETE /api/v1/session': 'session',
  // How to sign in, and single sign-on (test/sso.test.ts).
  'GET /api/v1/session/methods': 'session',
  'GET /api/v1/session/oidc': 'session',
  'GET /api/v1/session/oidc/callback': 'session',
  'GET /api/v1/whoami': 'signed-in',
  'GET /api/v1/apps': 'signed-in',
  'POST /api/v1/apps': 'server-admin',
  'GET /api/v1/apps/:appId': 'read',
  'PATCH /api/v1/apps/:appId': 'admin',
  'DELETE /api/v1/apps/:appId': 'server-admin',
  'GET /api/v1/apps/:appId/bundles': 'read',
  'POST /api/v1/apps/:appId/bundles/upload': 'publish',
  'POST /api/v1/apps/:appId/bundles': 'publish',
  // Deletes bundles, like DELETE …/bundles/:version: the same role.
  'POST /api/v1/apps/:appId/bundles/cleanup': 'publish',
  'GET /api/v1/apps/:appId/bundles/:version': 'read',
  'PATCH /api/v1/apps/:appId/bundles/:version': 'publish',
  'GET /api/v1/apps/:appId/bundles/:version/compatibility': 'read',
  'DELETE /api/v1/apps/:appId/bundles/:version': 'publish',
  'GET /api/v1/apps/:appId/channels': 'read',
  'POST /api/v1/apps/:appId/channels': 'publish',
  'GET /api/v1/apps/:appId/channels/:channel': 'read',
  'PATCH /api/v1/apps/:appId/channels/:channel': 'publish',
  'DELETE /api/v1/apps/:appId/channels/:channel': 'admin',
  'PUT /api/v1/apps/:appId/channels/:channel/bundle': 'publish',
  'POST /api/v1/apps/:appId/channels/:channel/rollout': 'publish',
  'POST /api/v1/apps/:appId/channels/:channel/rollback': 'publish',
  'GET /api/v1/apps/:appId/channels/:channel/schedule': 'read',
  'DELETE /api/v1/apps/:appId/channels/:channel/schedule': 'publish',
  'GET /api/v1/apps/:appId/channels/:channel/history': 'read',
  'GET /api/v1/apps/:appId/release-requests': 'read',
  'GET /api/v1/apps/:appId/release-requests/:id': 'read',
  'POST /api/v1/apps/:appId/release-requests/:id/approve': 'release',
  'POST /api/v1/apps/:appId/release-requests/:id/reject': 'release',
  'GET /api/v1/apps/:appId/channels/:channel/adoption': 'read',
  'GET /api/v1/apps/:appId/channels/:channel/health': 'read',
  'GET /api/v1/apps/:appId/stats': 'read',
  'GET /api/v1/apps/:appId/devices': 'read',
  'GET /api/v1/apps/:appId/devices/:deviceId': 'read',
  // A stream of server-sent events (test/device-watch.test.ts); here only its status is read.
  'GET /api/v1/apps/:appId/devices/:deviceId/live': 'read',
  'PUT /api/v1/apps/:appId/devices/:deviceId/channel': 'publish',
  'DELETE /api/v1/apps/:appId/devices/:deviceId/channel': 'publish',
  'GET /api/v1/apps/:appId/holds': 'read',
  'DELETE /api/v1/apps/:appId/devices/:deviceId/holds': 'publish',
  'POST /api/v1/apps/:appId/native/upload': 'publish',
  'GET /api/v1/apps/:appId/native': 'read',
  'DELETE /api/v1/apps/:appId/native/:platform/:version': 'publish',
  'GET /api/v1/apps/:appId/binaries': 'read',
  'POST /api/v1/apps/:appId/binaries': 'publish',
  'DELETE /api/v1/apps/:appId/binaries/:platform/:version': 'publish',
  'GET /api/v1/tokens': 'admin',
  'POST /api/v1/tokens': 'admin',
  'DELETE /api/v1/tokens/:id': 'admin',
  'GET /api/v1/webhooks': 'admin',
  'POST /api/v1/webhooks': 'admin',
  'DELETE /api/v1/webhooks/:id': 'admin',
  'GET /api/v1/webhooks/:id/deliveries': 'admin',
  'POST /api/v1/webhooks/:id/test': 'admin',
  'GET /api/v1/audit': 'admin',
  'GET /api/v1/audit/export': 'admin',
  'GET /api/v1/users': 'server-admin',
  'POST /api/v1/users': 'server-admin',
  'DELETE /api/v1/users/:username': 'server-admin',
  'PATCH /api/v1/users/:username': 'server-admin',
  // Also allowed to the signed-in user for their own password (test/sessions.test.ts).
  'PUT /api/v1/users/:username/password': 'server-admin',
  'DELETE /api/v1/users/:username/totp': 'server-admin',
  // The signed-in user's own two-factor sign-in and sessions (test/totp.test.ts); a token has no
  // two-factor sign-in (400 user_session_required) and sees the sessions opened with it.
  'GET /api/v1/me/totp': 'signed-in',
  'POST /api/v1/me/totp': 'signed-in',
  'POST /api/v1/me/totp/confirm': 'signed-in',
  'DELETE /api/v1/me/totp': 'signed-in',
  'GET /api/v1/me/sessions': 'signed-in',
  'DELETE /api/v1/me/sessions/:id': 'signed-in',
  'GET /api/v1/sessions': 'server-admin',
  'DELETE /api/v1/sessions/:id': 'server-admin',
};

/** Outside /api/v1, but in the table: load balancers and supervisors call them without a token. */
const PROBES = ['/healthz', '/readyz'];

/**
 * The admin routes and probes the app serves, as "METHOD /path" (middleware, registered for ALL,
 * left out).
 */
function servedAdminRoutes(server: TestServer): string[] {
  const routes = server.app.routes
    .filter(
      (route) => (route.path.startsWith('/api/v1/') || PROBES.includes(route.path)) && route.method !== 'ALL',
    )
    .map((route) => `${route.method} ${route.path}`);
  return [...new Set(routes)].sort();
}

/** The admin routes that need a token or a session: all but the sign-in routes and the probes. */
const guardedAdminRoutes = (server: TestServer) =>
  servedAdminRoutes(server).filter((route) => ACCESS[route] !== 'session' && ACCESS[route] !== 'public');

const SLOTS: Record<string, string> = {
  appId: APP,
  channel: 'production',
  version: '1.0.0',
  deviceId: 'device-1',
  platform: 'android',
  // No row has it: with 1, DELETE /me/sessions/:id would end the first session this test opens.
  id: '999999',
};
const concrete = (route: string) => route.replace(/:(\w+)/g, (_, slot: string) => SLOTS[slot] ?? 'x');

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function call(
  server: TestServer,
  route: string,
  options: {
    token?: string;
    address?: string;
    body?: unknown;
    session?: { cookie: string; csrf: string };
  } = {},
): Promise<Answer> {
  const [method, target] = route.split(' ') as [string, string];
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.session !== undefined) {
    headers.cookie = `overair_session=${options.session.cookie}`;
    headers['x-csrf-token'] = options.session.csrf;
  }
  if (options.address !== undefined) headers['x-forwarded-for'] = options.address;
  if (method === 'GET' && target.endsWith('/live')) return streamAnswer(server.url + target, headers);
  return sendJson(server.url + target, method, options.body, headers);
}

/** A live stream's answer: its status and headers, its body only when it is an error (JSON). */
async function streamAnswer(url: string, headers: Record<string, string>): Promise<Answer> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    controller.abort();
    return { status: response.status, body: undefined, headers: response.headers };
  }
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** "" when the answer is the expected JSON error, else what is wrong with it. */
function problem(route: string, answer: Answer, status: number, error?: string): string {
  const wrong =
    answer.status !== status ||
    typeof answer.body?.error !== 'string' ||
    typeof answer.body?.message !== 'string' ||
    (error !== undefined && answer.body.error !== error) ||
    !String(answer.headers.get('content-type')).startsWith('application/json');
  return wrong ? `${route}: ${answer.status} ${JSON.stringify(answer.body)}` : '';
}

/** Sets a token's expiry in the past, straight in the database (the API only accepts future ones). */
async function expireToken(server: TestServer, id: number): Promise<void> {
  await runSql(
    server,
    'UPDATE tokens SET expires_at = ? WHERE id = ?',
    new Date(Date.now() - 1000).toISOString(),
    id,
  );
}

/** A token or user of the tests below: a role on all apps, on APP only, or on OTHER only. */
type Holder = `${'all' | 'app' | 'other'}:${Role}`;
const HOLDERS = (['all', 'app', 'other'] as const).flatMap((where) =>
  ROLES.map((role) => `${where}:${role}` as Holder),
);
const rolesOf = (holder: Holder) => {
  const [where, role] = holder.split(':') as ['all' | 'app' | 'other', Role];
  return where === 'all' ? { all: role } : { apps: { [where === 'app' ? APP : OTHER]: role } };
};

/**
 * What a holder gets on a route of APP (SLOTS): refused (403), allowed, or either (an admin's route
 * off the app paths, whose handler refuses what is server-wide or of other apps: test/roles.test.ts).
 */
function expected(route: string, holder: Holder): 'refused' | 'allowed' | 'either' {
  const access = ACCESS[route];
  const [where, role] = holder.split(':') as ['all' | 'app' | 'other', Role];
  if (access === 'server-admin' || access === undefined) return 'refused';
  if (access === 'none' || access === 'signed-in' || access === 'session' || access === 'public')
    return 'allowed';
  if (!route.includes(':appId')) return role === 'admin' ? 'either' : 'refused';
  return where !== 'other' && roleAllows(role, access) ? 'allowed' : 'refused';
}

describe('every admin route', () => {
  let server: TestServer;
  const tokens = { revoked: '', expired: '' };
  const holders = {} as Record<Holder, string>;

  beforeAll(async () => {
    // The failed-login limit is tested below; here hundreds of refusals come from one address.
    server = await startTestServer({ OVERAIR_AUTH_MAX_FAILURES: '0' });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
    expect((await server.api('POST', '/apps', { id: OTHER })).status).toBe(201);
    const create = async (name: string, grant: object, extra: object = {}) => {
      const answer = await server.api('POST', '/tokens', { name, ...grant, ...extra });
      expect(answer.status).toBe(201);
      return answer.body as { id: number; token: string };
    };
    for (const holder of HOLDERS) holders[holder] = (await create(holder, { roles: rolesOf(holder) })).token;
    const revoked = await create('revoked', { scope: 'admin' });
    tokens.revoked = revoked.token;
    expect((await server.api('DELETE', `/tokens/${revoked.id}`)).status).toBe(200);
    const expired = await create('expired', { scope: 'admin' }, { expires_in_days: 1 });
    tokens.expired = expired.token;
    expect((await server.api('GET', '/whoami', undefined, expired.token)).status).toBe(200);
    await expireToken(server, expired.id);
  });
  afterAll(() => server.stop());

  it('is listed in the access table of this test, and every listed route exists', () => {
    const served = servedAdminRoutes(server);
    expect(served.length).toBeGreaterThanOrEqual(26);
    expect(served).toEqual(Object.keys(ACCESS).sort());
  });

  it.each([
    ['without a token', undefined, 'unauthorized'],
    ['with a wrong token', 'oat_not-a-token-0123456789abcdefghij', 'invalid_token'],
    ['with a revoked token', 'revoked', 'invalid_token'],
    ['with an expired token', 'expired', 'token_expired'],
  ] as const)('answers 401 %s, as JSON {error, message}', async (_, which, error) => {
    const token = which === 'revoked' || which === 'expired' ? tokens[which] : which;
    const problems: string[] = [];
    for (const route of guardedAdminRoutes(server)) {
      const answer = await call(server, concrete(route), { token });
      problems.push(problem(route, answer, 401, error));
      if (!answer.headers.get('www-authenticate')?.startsWith('Bearer'))
        problems.push(`${route}: no challenge`);
    }
    expect(problems.filter(Boolean)).toEqual([]);
  });

  it("answers 403 to every role below the route's, and to every role on another app, as JSON", async () => {
    const problems: string[] = [];
    let checked = 0;
    for (const route of guardedAdminRoutes(server)) {
      for (const holder of HOLDERS) {
        if (expected(route, holder) !== 'refused') continue;
        checked++;
        const answer = await call(server, concrete(route), { token: holders[holder] });
        problems.push(problem(`${route} (${holder})`, answer, 403, 'forbidden'));
      }
    }
    expect(problems.filter(Boolean)).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(350);
  });

  it("lets every role at or above the route's through to its reads, on its app", async () => {
    const problems: string[] = [];
    for (const route of guardedAdminRoutes(server).filter((route) => route.startsWith('GET '))) {
      for (const holder of HOLDERS) {
        if (expected(route, holder) !== 'allowed') continue;
        const answer = await call(server, concrete(route), { token: holders[holder] });
        if ([401, 403, 429].includes(answer.status)) problems.push(`${route} (${holder}): ${answer.status}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('answers a role on another app exactly like an app that does not exist (no existence leak)', async () => {
    const problems: string[] = [];
    const appRoutes = guardedAdminRoutes(server).filter((route) => route.includes(':appId'));
    for (const route of appRoutes) {
      const at = (app: string) => concrete(route).replace(APP, app);
      const other = await call(server, at(OTHER), { token: holders['app:admin'] });
      const missing = await call(server, at('com.example.missing'), { token: holders['app:admin'] });
      const same =
        other.status === missing.status &&
        other.body.error === missing.body.error &&
        other.body.message.replace(OTHER, 'X') === missing.body.message.replace('com.example.missing', 'X');
      if (other.status !== 403 || !same) {
        problems.push(
          `${route}: ${other.status} ${other.body.error} vs ${missing.status} ${missing.body.error}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it('lists only the apps a token has a role on', async () => {
    const names = async (holder: Holder) =>
      (
        (await call(server, 'GET /api/v1/apps', { token: holders[holder] })).body.items as Array<{
          id: string;
        }>
      )
        .map((app) => app.id)
        .sort();
    expect(await names('all:read')).toEqual([OTHER, APP].sort());
    expect(await names('app:publish')).toEqual([APP]);
    expect(await names('other:admin')).toEqual([OTHER]);
  });

  it("applies a signed-in user's roles exactly like a token's", async () => {
    const users = ['app:read', 'app:publish', 'other:admin'] as const;
    const sessions = {} as Record<(typeof users)[number], { cookie: string; csrf: string }>;
    for (const holder of users) {
      const username = holder.replace(':', '-');
      const password = `${username}-user-password`;
      const created = await server.api('POST', '/users', { username, password, roles: rolesOf(holder) });
      expect(created.status).toBe(201);
      const signIn = await call(server, 'POST /api/v1/session', { body: { username, password } });
      expect(signIn.status).toBe(200);
      const cookie = /^overair_session=([^;]+)/.exec(signIn.headers.get('set-cookie') ?? '')?.[1] ?? '';
      sessions[holder] = { cookie, csrf: signIn.body.csrf_token };
    }
    const problems: string[] = [];
    for (const route of guardedAdminRoutes(server)) {
      for (const holder of users) {
        const expectation = expected(route, holder);
        if (expectation === 'refused') {
          const answer = await call(server, concrete(route), { session: sessions[holder] });
          problems.push(problem(`${route} (${holder} user)`, answer, 403, 'forbidden'));
        } else if (expectation === 'allowed' && route.startsWith('GET ')) {
          const answer = await call(server, concrete(route), { session: sessions[holder] });
          if ([401, 403, 429].includes(answer.status))
            problems.push(`${route} (${holder} user): ${answer.status}`);
        }
      }
    }
    expect(problems.filter(Boolean)).toEqual([]);
  });

  it('does not let an expired token be used, nor counts it as the last admin token', async () => {
    const list = await server.api('GET', '/tokens');
    const expired = list.body.items.find((token: { name: string }) => token.name === 'expired');
    expect(Date.parse(expired.expires_at)).toBeLessThan(Date.now());
    const admin = list.body.items.find((token: { name: string }) => token.name === 'OVERAIR_ADMIN_TOKEN');
    expect(admin.expires_at).toBeNull();
    // With the expired admin token around, the configured one is still the last that works.
    const refused = await server.api('DELETE', `/tokens/${admin.id}`);
    expect(refused).toMatchObject({ status: 409, body: { error: 'last_admin_token' } });
  });
});

describe('token expiry', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('is set by expires_in_days or expires_at, shown in the list, and null when not asked', async () => {
    const inDays = await server.api('POST', '/tokens', { name: 'ci', scope: 'publish', expires_in_days: 30 });
    expect(inDays.status).toBe(201);
    const days = (Date.parse(inDays.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.99);
    expect(days).toBeLessThanOrEqual(30);

    const at = new Date(Date.now() + 3_600_000).toISOString();
    const atAnswer = await server.api('POST', '/tokens', { name: 'temp', scope: 'read', expires_at: at });
    expect(atAnswer).toMatchObject({ status: 201, body: { expires_at: at } });
    expect((await server.api('GET', '/whoami', undefined, atAnswer.body.token)).status).toBe(200);

    const never = await server.api('POST', '/tokens', { name: 'forever', scope: 'read' });
    expect(never.body.expires_at).toBeNull();

    const listed = (await server.api('GET', '/tokens')).body.items;
    expect(
      listed.map((token: { name: string; expires_at: string | null }) => [token.name, token.expires_at]),
    ).toEqual([
      ['OVERAIR_ADMIN_TOKEN', null],
      ['ci', inDays.body.expires_at],
      ['temp', at],
      ['forever', null],
    ]);
  });

  it.each([
    [{ expires_in_days: 0 }],
    [{ expires_in_days: -1 }],
    [{ expires_in_days: 1.5 }],
    [{ expires_in_days: '7' }],
    [{ expires_at: '2001-01-01T00:00:00Z' }],
    [{ expires_at: 'tomorrow' }],
    [{ expires_at: new Date(Date.now() + 86_400_000).toISOString(), expires_in_days: 1 }],
    [{ expires_in: 7 }],
  ])('refuses %j with a 400 and creates nothing', async (extra) => {
    const before = (await server.api('GET', '/tokens')).body.items.length;
    const answer = await server.api('POST', '/tokens', { name: 'bad', scope: 'read', ...extra });
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(typeof answer.body.message).toBe('string');
    expect((await server.api('GET', '/tokens')).body.items.length).toBe(before);
  });
});

describe('failed authentication limit', () => {
  let server: TestServer;
  const A = '203.0.113.10';
  const B = '203.0.113.20';
  const WRONG = 'oat_wrong-token-0123456789abcdefghij';

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_TRUST_PROXY: 'true',
      OVERAIR_AUTH_MAX_FAILURES: '3',
      OVERAIR_AUTH_FAILURE_WINDOW: '2m',
    });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server.stop());

  it('answers 429 with Retry-After after N failures, to that address only, even with a valid token', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await call(server, 'GET /api/v1/apps', { token: WRONG, address: A })).status).toBe(401);
    }
    for (const token of [WRONG, ADMIN_TOKEN, undefined]) {
      const refused = await call(server, 'GET /api/v1/apps', { token, address: A });
      expect(problem('GET /api/v1/apps', refused, 429, 'too_many_failed_logins')).toBe('');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(100);
      expect(retryAfter).toBeLessThanOrEqual(120);
    }
    // Another address is unaffected, for good and bad tokens alike.
    expect((await call(server, 'GET /api/v1/apps', { token: ADMIN_TOKEN, address: B })).status).toBe(200);
    expect((await call(server, 'GET /api/v1/apps', { token: WRONG, address: B })).status).toBe(401);
    expect((await call(server, 'GET /api/v1/apps', { token: ADMIN_TOKEN, address: B })).status).toBe(200);
  });

  it('never touches device routes, even for a blocked address', async () => {
    const blocked = { 'x-forwarded-for': A, 'content-type': 'application/json' };
    const check = await fetch(`${server.url}/updates`, {
      method: 'POST',
      headers: blocked,
      body: JSON.stringify(deviceInfo({ app_id: APP })),
    });
    expect(check.status).toBe(200);
    expect(await check.json()).toMatchObject({ kind: 'up_to_date' });
    const stats = await fetch(`${server.url}/stats`, {
      method: 'POST',
      headers: blocked,
      body: JSON.stringify({ ...deviceInfo({ app_id: APP }), action: 'app_moved_to_foreground' }),
    });
    expect(stats.status).toBe(200);
    const channel = await fetch(`${server.url}/channel_self`, {
      method: 'PUT',
      headers: blocked,
      body: JSON.stringify(deviceInfo({ app_id: APP })),
    });
    expect(channel.status).toBe(200);
    expect((await fetch(`${server.url}/healthz`, { headers: blocked })).status).toBe(200);
  });

  it('is not reset by a success, of this address or another', async () => {
    const C = '203.0.113.30';
    expect((await call(server, 'GET /api/v1/whoami', { token: WRONG, address: C })).status).toBe(401);
    expect((await call(server, 'GET /api/v1/whoami', { token: WRONG, address: C })).status).toBe(401);
    expect((await call(server, 'GET /api/v1/whoami', { token: ADMIN_TOKEN, address: C })).status).toBe(200);
    expect((await call(server, 'GET /api/v1/whoami', { token: ADMIN_TOKEN, address: B })).status).toBe(200);
    expect((await call(server, 'GET /api/v1/whoami', { token: WRONG, address: C })).status).toBe(401);
    expect((await call(server, 'GET /api/v1/whoami', { token: ADMIN_TOKEN, address: C })).status).toBe(429);
  });

  it('counts IPv6 clients per /64', async () => {
    for (const address of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:aaaa::3']) {
      expect((await call(server, 'GET /api/v1/whoami', { token: WRONG, address })).status).toBe(401);
    }
    const sameBlock = await call(server, 'GET /api/v1/whoami', {
      token: ADMIN_TOKEN,
      address: '2001:db8:1:2::ffff',
    });
    expect(sameBlock.status).toBe(429);
    const otherBlock = await call(server, 'GET /api/v1/whoami', {
      token: ADMIN_TOKEN,
      address: '2001:db8:1:3::1',
    });
    expect(otherBlock.status).toBe(200);
  });

  it('does not believe X-Forwarded-For unless OVERAIR_TRUST_PROXY is on', async () => {
    const direct = await startTestServer({ OVERAIR_AUTH_MAX_FAILURES: '2' });
    try {
      // A client rotating forged addresses is still counted by its socket's.
      for (const address of ['198.51.100.1', '198.51.100.2']) {
        expect((await call(direct, 'GET /api/v1/whoami', { token: WRONG, address })).status).toBe(401);
      }
      const answer = await call(direct, 'GET /api/v1/whoami', {
        token: ADMIN_TOKEN,
        address: '198.51.100.3',
      });
      expect(answer.status).toBe(429);
    } finally {
      await direct.stop();
    }
  });
});

describe('audit log of admin requests', () => {
  let server: TestServer;
  let reader = '';

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_TRUST_PROXY: 'true', OVERAIR_AUTH_MAX_FAILURES: '2' });
    reader = (await server.api('POST', '/tokens', { name: 'reader', scope: 'read' })).body.token;
  });
  afterAll(() => server.stop());

  /** Request entries, oldest first, as [actor, method, path, status, address, error]. */
  async function requestEntries(query = '') {
    const { body } = await server.api('GET', `/audit?limit=500${query}`);
    return (body.items as Array<{ actor: string; action: string; detail: any }>)
      .filter((entry) => entry.action === 'http.request')
      .reverse()
      .map(({ actor, detail }) => [
        actor,
        detail.method,
        detail.path,
        detail.status,
        detail.address,
        detail.error,
      ]);
  }

  it('records every admin request, refused ones included, without query strings', async () => {
    const before = (await requestEntries()).length;
    const addr = '192.0.2.7';
    await call(server, 'GET /api/v1/apps?limit=5&secret=hide-me', { token: ADMIN_TOKEN, address: addr });
    await call(server, 'POST /api/v1/apps', { token: ADMIN_TOKEN, address: addr, body: { id: APP } });
    await call(server, 'GET /api/v1/apps', { address: addr });
    await call(server, 'DELETE /api/v1/apps/com.example.secure', { token: reader, address: addr });
    await call(server, 'GET /api/v1/apps', { token: 'oat_wrong-0123456789abcdefghijkl', address: addr });
    await call(server, 'GET /api/v1/apps', { token: ADMIN_TOKEN, address: addr });
    await call(server, 'GET /api/v1/nope', { token: ADMIN_TOKEN });
    const entries = (await requestEntries()).slice(before);
    // The GET /audit calls of requestEntries are in the log too (the earlier one among these).
    expect(entries.filter((entry) => entry[2] !== '/api/v1/audit')).toEqual([
      ['token:OVERAIR_ADMIN_TOKEN', 'GET', '/api/v1/apps', 200, addr, undefined],
      ['token:OVERAIR_ADMIN_TOKEN', 'POST', '/api/v1/apps', 201, addr, undefined],
      ['anonymous', 'GET', '/api/v1/apps', 401, addr, 'unauthorized'],
      ['token:reader', 'DELETE', `/api/v1/apps/${APP}`, 403, addr, 'forbidden'],
      ['anonymous', 'GET', '/api/v1/apps', 401, addr, 'invalid_token'],
      ['anonymous', 'GET', '/api/v1/apps', 429, addr, 'too_many_failed_logins'],
      ['token:OVERAIR_ADMIN_TOKEN', 'GET', '/api/v1/nope', 404, '127.0.0.1', undefined],
    ]);
    expect(JSON.stringify(await server.api('GET', '/audit?limit=500'))).not.toContain('hide-me');
  });

  it('keeps the detailed entries of mutations, and files requests under their app', async () => {
    const { body } = await server.api('GET', `/audit?app=${APP}&limit=500`);
    const actions = (body.items as Array<{ action: string; target: string }>).map((entry) =>
      entry.action === 'http.request' ? entry.target : entry.action,
    );
    expect(actions).toContain('app.create');
    expect(actions).toContain(`DELETE /api/v1/apps/${APP}`);
  });
});

describe('health probes', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_DEVICE_RATE_LIMIT: '2', OVERAIR_DEVICE_RATE_WINDOW: '1m' });
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server.stop());

  it('answer without a token, are never audited, and never count against the device rate limit', async () => {
    const auditedBefore = (await server.api('GET', '/audit?limit=500')).body.items.length;
    for (let round = 0; round < 5; round++) {
      const health = await call(server, 'GET /healthz');
      expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
      const ready = await call(server, 'GET /readyz');
      expect(ready).toMatchObject({
        status: 200,
        body: { status: 'ready', checks: { database: 'ok', storage: 'ok' } },
      });
      expect(ready.headers.get('cache-control')).toBe('no-store');
    }
    // Only the GET /audit call above was added to the audit log.
    const audited = (await server.api('GET', '/audit?limit=500')).body.items;
    expect(audited.length).toBe(auditedBefore + 1);
    expect(JSON.stringify(audited)).not.toMatch(/healthz|readyz/);
    // The device budget of 2 per window is untouched by ten probes: two checks pass, the third is limited.
    const check = () => call(server, 'POST /updates', { body: deviceInfo({ app_id: APP }) });
    expect((await check()).status).toBe(200);
    expect((await check()).status).toBe(200);
    expect((await check()).status).toBe(429);
    expect((await call(server, 'GET /readyz')).status).toBe(200);
  });
});
