/**
 * The dashboard's sign-in: users with scrypt passwords or tokens open a session held in an HttpOnly,
 * SameSite=Strict cookie; every admin route accepts it with the owner's scope, and cookie-
 * authenticated changes need the session's CSRF token. Sign-out, password changes, user deletion,
 * token revocation and expiry all end sessions. Real servers, real HTTP.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { cli } from './helpers/cli.js';
import { ADMIN_TOKEN, sendJson, startTestServer, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';

const ROOT = { username: 'root', password: 'root-password-0123' };
const COOKIE =
  /^overair_session=([A-Za-z0-9_-]{43}); Max-Age=(\d+); Path=\/; HttpOnly(; Secure)?; SameSite=Strict$/;

interface Answer {
  status: number;
  body: any;
  headers: Headers;
  /** The Set-Cookie headers of the answer. */
  cookies: string[];
}

interface Options {
  body?: unknown;
  /** The session cookie's value. */
  cookie?: string;
  csrf?: string;
  token?: string;
  headers?: Record<string, string>;
}

async function call(
  server: TestServer,
  method: string,
  route: string,
  options: Options = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie !== undefined) headers.cookie = `overair_session=${options.cookie}`;
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const answer = await sendJson(`${server.url}/api/v1${route}`, method, options.body, headers);
  return { ...answer, cookies: answer.headers.getSetCookie() };
}

interface Session {
  cookie: string;
  csrf: string;
  answer: Answer;
}

async function signIn(
  server: TestServer,
  credentials: object,
  headers?: Record<string, string>,
): Promise<Session> {
  const answer = await call(server, 'POST', '/session', { body: credentials, headers });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.cookies).toHaveLength(1);
  const cookie = COOKIE.exec(answer.cookies[0]!)?.[1];
  expect(cookie, answer.cookies[0]).toBeDefined();
  return { cookie: cookie!, csrf: answer.body.csrf_token, answer };
}

const past = () => new Date(Date.now() - 1000).toISOString();

describe('dashboard sessions', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_AUTH_MAX_FAILURES: '0',
    });
  });
  afterAll(() => server.stop());

  it('creates the first admin user from OVERAIR_ADMIN_USER and OVERAIR_ADMIN_PASSWORD, hashed with scrypt', async () => {
    const list = await server.api('GET', '/users');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      {
        id: 1,
        username: ROOT.username,
        roles: { server_admin: true, all: 'admin', apps: {} },
        created_at: expect.any(String),
        password_changed_at: expect.any(String),
        totp_enabled: false,
      },
    ]);
    const [row] = await runSql(server, 'SELECT password_hash FROM users');
    expect(row.password_hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(Number(row.password_hash.split('$')[1])).toBeGreaterThanOrEqual(16384);
    expect(row.password_hash).not.toContain(ROOT.password);
    // Only on an empty user table: a later start never adds or resets a user.
    expect(await server.services.users.ensureAdminUser('other', 'other-password-123')).toBe(false);
    expect((await server.api('GET', '/users')).body.items).toHaveLength(1);
  });

  it('signs in with a password: the session cookie and its flags, stored hashed', async () => {
    const { cookie, csrf, answer } = await signIn(server, ROOT);
    expect(answer.body).toEqual({
      user: { name: ROOT.username, kind: 'user', roles: { server_admin: true, all: 'admin', apps: {} } },
      csrf_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      expires_at: expect.any(String),
      totp_enrolment_required: false,
    });
    const [, , maxAge, secure] = COOKIE.exec(answer.cookies[0]!)!;
    expect(Number(maxAge)).toBeGreaterThan(12 * 3600 - 5);
    expect(Number(maxAge)).toBeLessThanOrEqual(12 * 3600);
    expect(secure).toBeUndefined(); // plain http, no https public URL
    expect(Math.abs(Date.parse(answer.body.expires_at) - Date.now() - 12 * 3600_000)).toBeLessThan(5000);

    const rows = await runSql(server, 'SELECT * FROM sessions');
    const mine = rows.find((row) => row.hash === createHash('sha256').update(cookie).digest('hex'));
    expect(mine).toMatchObject({ user_id: 1, token_id: null, csrf_token: csrf });
    expect(JSON.stringify(rows)).not.toContain(cookie);

    const again = await call(server, 'GET', '/session', { cookie });
    expect(again).toMatchObject({ status: 200, body: answer.body });
    const whoami = await call(server, 'GET', '/whoami', { cookie });
    expect(whoami.body).toEqual({
      id: 1,
      name: ROOT.username,
      kind: 'user',
      roles: { server_admin: true, all: 'admin', apps: {} },
    });
  });

  it('signs in with a token: a session of that token, with its roles', async () => {
    const reader = await server.api('POST', '/tokens', { name: 'dash-reader', scope: 'read' });
    const { cookie, answer } = await signIn(server, { token: reader.body.token });
    expect(answer.body.user).toEqual({
      name: 'dash-reader',
      kind: 'token',
      roles: { server_admin: false, all: 'read', apps: {} },
    });
    expect((await call(server, 'GET', '/apps', { cookie })).status).toBe(200);
    const refused = await call(server, 'GET', '/tokens', { cookie });
    expect(refused).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    const admin = await signIn(server, { token: ADMIN_TOKEN });
    expect(admin.answer.body.user).toEqual({
      name: 'OVERAIR_ADMIN_TOKEN',
      kind: 'token',
      roles: { server_admin: true, all: 'admin', apps: {} },
    });
  });

  it.each([
    ['a wrong password', { username: ROOT.username, password: 'not-the-password' }],
    ['an unknown user', { username: 'nobody', password: ROOT.password }],
    ['a wrong token', { token: 'oat_not-a-token-0123456789abcdefghij' }],
    ['a short wrong password', { username: ROOT.username, password: 'x' }],
  ])('refuses %s with 401 invalid_credentials and no cookie', async (_, credentials) => {
    const answer = await call(server, 'POST', '/session', { body: credentials });
    expect(answer).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } });
    expect(typeof answer.body.message).toBe('string');
    expect(answer.cookies).toEqual([]);
  });

  it.each([
    [{}],
    [{ username: ROOT.username }],
    [{ password: ROOT.password }],
    [{ ...ROOT, token: ADMIN_TOKEN }],
    [{ ...ROOT, remember: true }],
    [{ username: '../root', password: ROOT.password }],
    [{ username: ROOT.username, password: 'p'.repeat(2000) }],
    [{ token: '' }],
    [[ROOT]],
  ])('refuses the malformed sign-in %j with a 400', async (body) => {
    const answer = await call(server, 'POST', '/session', { body });
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(answer.cookies).toEqual([]);
  });

  it('refuses a sign-in started by another site', async () => {
    const answer = await call(server, 'POST', '/session', {
      body: ROOT,
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(answer).toMatchObject({ status: 403, body: { error: 'cross_site_request' } });
    expect(answer.cookies).toEqual([]);
    await signIn(server, ROOT, { 'sec-fetch-site': 'same-origin' });
  });

  it('answers GET /session with 401 without a session, and clears an unknown cookie', async () => {
    expect(await call(server, 'GET', '/session')).toMatchObject({
      status: 401,
      body: { error: 'unauthorized' },
    });
    const unknown = await call(server, 'GET', '/session', { cookie: 'A'.repeat(43) });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'invalid_session' } });
    expect(unknown.cookies).toEqual(['overair_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict']);
    // A bearer token is no session.
    expect((await call(server, 'GET', '/session', { token: ADMIN_TOKEN })).status).toBe(401);
  });

  it('needs the CSRF token for every cookie-authenticated change, never for bearer requests', async () => {
    const { cookie, csrf } = await signIn(server, ROOT);
    const app = { id: 'com.example.csrf' };
    for (const header of [undefined, '', 'wrong', csrf.slice(0, -1), `${csrf}x`]) {
      const refused = await call(server, 'POST', '/apps', { cookie, csrf: header, body: app });
      expect(refused).toMatchObject({ status: 403, body: { error: 'csrf_token_invalid' } });
    }
    // Another session's CSRF token is no good either.
    const other = await signIn(server, ROOT);
    expect((await call(server, 'POST', '/apps', { cookie, csrf: other.csrf, body: app })).status).toBe(403);
    expect((await server.api('GET', `/apps/${app.id}`)).status).toBe(404);

    expect((await call(server, 'POST', '/apps', { cookie, csrf, body: app })).status).toBe(201);
    const channel = `/apps/${app.id}/channels/production`;
    for (const [method, route, body] of [
      ['PATCH', channel, { allow_self_assign: true }],
      ['PUT', `/apps/${app.id}/devices/device-1/channel`, { channel: 'production' }],
      ['DELETE', `/apps/${app.id}/devices/device-1/channel`, undefined],
      ['DELETE', `/apps/${app.id}`, undefined],
    ] as const) {
      const refused = await call(server, method, route, { cookie, body });
      expect(refused, `${method} ${route}`).toMatchObject({
        status: 403,
        body: { error: 'csrf_token_invalid' },
      });
      const accepted = await call(server, method, route, { cookie, csrf, body });
      expect(accepted.status, `${method} ${route}: ${JSON.stringify(accepted.body)}`).toBe(200);
    }
    // Reads need none; bearer requests need none, and win over a cookie.
    expect((await call(server, 'GET', '/apps', { cookie })).status).toBe(200);
    expect((await call(server, 'POST', '/apps', { token: ADMIN_TOKEN, cookie, body: app })).status).toBe(201);
  });

  it('names the user in the audit log', async () => {
    const { cookie, csrf } = await signIn(server, ROOT);
    await call(server, 'POST', '/apps', { cookie, csrf, body: { id: 'com.example.audited' } });
    const { body } = await server.api('GET', '/audit?limit=20');
    const entries = body.items as Array<{ actor: string; action: string; target: string }>;
    expect(entries.find((entry) => entry.action === 'app.create')).toMatchObject({
      actor: `user:${ROOT.username}`,
      target: 'com.example.audited',
    });
    expect(entries.find((entry) => entry.target === 'POST /api/v1/apps')?.actor).toBe(
      `user:${ROOT.username}`,
    );
    expect(entries.find((entry) => entry.target === 'POST /api/v1/session')?.actor).toBe(
      `user:${ROOT.username}`,
    );
  });

  it("applies a read user's scope to every change, and lets them change their own password only", async () => {
    const password = 'reader-password-1';
    expect((await server.api('POST', '/users', { username: 'reader', password, scope: 'read' })).status).toBe(
      201,
    );
    const { cookie, csrf } = await signIn(server, { username: 'reader', password });
    expect((await call(server, 'GET', '/apps', { cookie })).status).toBe(200);
    for (const [method, route, body] of [
      ['POST', '/apps', { id: 'com.example.reader' }],
      ['DELETE', '/apps/com.example.csrf', undefined],
      ['GET', '/users', undefined],
      ['POST', '/users', { username: 'sneaky', password: 'sneaky-password', scope: 'admin' }],
      ['GET', '/tokens', undefined],
      ['POST', '/tokens', { name: 'escalate', scope: 'admin' }],
      ['PUT', `/users/${ROOT.username}/password`, { password: 'hijacked-password' }],
    ] as const) {
      const answer = await call(server, method, route, { cookie, csrf, body });
      expect(answer, `${method} ${route}`).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    }
    const own = await call(server, 'PUT', '/users/reader/password', {
      cookie,
      csrf,
      body: { password: 'reader-password-2' },
    });
    expect(own).toMatchObject({ status: 200, body: { updated: true } });
    // A password change ends the user's sessions, this one included.
    expect(own.cookies).toEqual(['overair_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict']);
    expect((await call(server, 'GET', '/apps', { cookie })).status).toBe(401);
    expect((await call(server, 'POST', '/session', { body: { username: 'reader', password } })).status).toBe(
      401,
    );
    await signIn(server, { username: 'reader', password: 'reader-password-2' });
  });

  it('signs out: the cookie is cleared and the session is gone', async () => {
    const { cookie, csrf } = await signIn(server, ROOT);
    const noCsrf = await call(server, 'DELETE', '/session', { cookie });
    expect(noCsrf).toMatchObject({ status: 403, body: { error: 'csrf_token_invalid' } });
    const out = await call(server, 'DELETE', '/session', { cookie, csrf });
    expect(out).toMatchObject({ status: 200, body: { signed_out: true } });
    expect(out.cookies).toEqual(['overair_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict']);
    expect(await call(server, 'GET', '/apps', { cookie })).toMatchObject({
      status: 401,
      body: { error: 'invalid_session' },
    });
    expect((await call(server, 'GET', '/session', { cookie })).status).toBe(401);
    // Signing out twice, or without a session, is not an error.
    expect(await call(server, 'DELETE', '/session', { cookie, csrf })).toMatchObject({
      status: 200,
      body: { signed_out: true },
    });
    expect((await call(server, 'DELETE', '/session')).status).toBe(200);
  });

  it('ends the session of a token when the token is revoked or expires', async () => {
    const created = await server.api('POST', '/tokens', { name: 'dash-admin', scope: 'admin' });
    const { cookie } = await signIn(server, { token: created.body.token });
    expect((await call(server, 'GET', '/tokens', { cookie })).status).toBe(200);
    expect((await server.api('DELETE', `/tokens/${created.body.id}`)).status).toBe(200);
    expect(await call(server, 'GET', '/tokens', { cookie })).toMatchObject({
      status: 401,
      body: { error: 'invalid_session' },
    });

    const expiring = await server.api('POST', '/tokens', { name: 'dash-expiring', scope: 'read' });
    const session = await signIn(server, { token: expiring.body.token });
    expect((await call(server, 'GET', '/session', { cookie: session.cookie })).status).toBe(200);
    await runSql(server, 'UPDATE tokens SET expires_at = ? WHERE id = ?', past(), expiring.body.id);
    expect(await call(server, 'GET', '/session', { cookie: session.cookie })).toMatchObject({
      status: 401,
      body: { error: 'session_expired' },
    });
    // An expired token opens no session at all.
    const refused = await call(server, 'POST', '/session', { body: { token: expiring.body.token } });
    expect(refused).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } });
  });

  it('never lets a token session outlive its token', async () => {
    const inOneHour = new Date(Date.now() + 3600_000).toISOString();
    const token = await server.api('POST', '/tokens', {
      name: 'short',
      scope: 'read',
      expires_at: inOneHour,
    });
    const { answer } = await signIn(server, { token: token.body.token });
    expect(answer.body.expires_at).toBe(inOneHour);
    const maxAge = Number(COOKIE.exec(answer.cookies[0]!)![2]);
    expect(maxAge).toBeGreaterThan(3590);
    expect(maxAge).toBeLessThanOrEqual(3600);
  });

  it('ends an expired session, and deletes it', async () => {
    const { cookie } = await signIn(server, ROOT);
    const hash = createHash('sha256').update(cookie).digest('hex');
    await runSql(server, 'UPDATE sessions SET expires_at = ? WHERE hash = ?', past(), hash);
    expect(await call(server, 'GET', '/apps', { cookie })).toMatchObject({
      status: 401,
      body: { error: 'session_expired' },
    });
    expect(await runSql(server, 'SELECT id FROM sessions WHERE hash = ?', hash)).toEqual([]);
  });

  it('manages users: validation, duplicates, the last admin user, and sessions ended on deletion', async () => {
    const create = (body: object) => server.api('POST', '/users', body);
    for (const body of [
      { username: 'short', password: 'too-short', scope: 'read' },
      { username: '.hidden', password: 'long-enough-password', scope: 'read' },
      { username: 'a b', password: 'long-enough-password', scope: 'read' },
      { username: 'u'.repeat(65), password: 'long-enough-password', scope: 'read' },
      { username: 'valid', password: 'long-enough-password', scope: 'root' },
      { username: 'valid', password: 'long-enough-password' },
      { username: 'valid', password: 'long-enough-password', scope: 'read', admin: true },
    ]) {
      expect(await create(body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      });
    }
    expect(
      await create({ username: ROOT.username, password: 'another-password', scope: 'read' }),
    ).toMatchObject({
      status: 409,
      body: { error: 'user_exists' },
    });
    const ok = await create({
      username: 'ops.team@example-1',
      password: 'ops-password-123',
      scope: 'publish',
    });
    expect(ok).toMatchObject({
      status: 201,
      body: { username: 'ops.team@example-1', roles: { server_admin: false, all: 'publish', apps: {} } },
    });
    expect(ok.body.password_hash).toBeUndefined();
    expect(JSON.stringify((await server.api('GET', '/users')).body)).not.toContain('scrypt');

    expect(await server.api('DELETE', `/users/${ROOT.username}`)).toMatchObject({
      status: 409,
      body: { error: 'last_admin_user' },
    });
    expect(await server.api('DELETE', '/users/nobody')).toMatchObject({
      status: 404,
      body: { error: 'user_not_found' },
    });
    expect(await server.api('PUT', '/users/nobody/password', { password: 'whatever-123' })).toMatchObject({
      status: 404,
      body: { error: 'user_not_found' },
    });

    const second = await create({ username: 'admin2', password: 'admin2-password', scope: 'admin' });
    expect(second.status).toBe(201);
    const rootSession = await signIn(server, ROOT);
    // An admin user may delete another admin (root), now that it is not the last one.
    const admin2 = await signIn(server, { username: 'admin2', password: 'admin2-password' });
    const deleted = await call(server, 'DELETE', `/users/${ROOT.username}`, admin2);
    expect(deleted).toMatchObject({ status: 200, body: { deleted: true } });
    expect((await call(server, 'GET', '/apps', { cookie: rootSession.cookie })).status).toBe(401);
    expect(await runSql(server, 'SELECT id FROM sessions WHERE user_id = 1')).toEqual([]);
    // admin2 is now the last admin user: not even itself can delete it.
    expect((await call(server, 'DELETE', '/users/admin2', admin2)).status).toBe(409);

    // An admin changes another user's password: that user's sessions end.
    const ops = await signIn(server, { username: 'ops.team@example-1', password: 'ops-password-123' });
    const changed = await server.api('PUT', '/users/ops.team@example-1/password', {
      password: 'new-ops-password',
    });
    expect(changed).toMatchObject({ status: 200, body: { updated: true } });
    expect((await call(server, 'GET', '/apps', { cookie: ops.cookie })).status).toBe(401);
    await signIn(server, { username: 'ops.team@example-1', password: 'new-ops-password' });
    expect(
      (await server.api('PUT', '/users/ops.team@example-1/password', { password: 'short' })).status,
    ).toBe(400);
  });
});

describe('session settings and limits', () => {
  it('sets Secure behind https (public URL, or a trusted proxy) and uses OVERAIR_SESSION_TTL', async () => {
    const server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_PUBLIC_URL: 'https://updates.example.com',
      OVERAIR_SESSION_TTL: '30m',
    });
    try {
      const { answer } = await signIn(server, ROOT);
      const [, , maxAge, secure] = COOKIE.exec(answer.cookies[0]!)!;
      expect(secure).toBe('; Secure');
      expect(Number(maxAge)).toBeGreaterThan(1795);
      expect(Number(maxAge)).toBeLessThanOrEqual(1800);
    } finally {
      await server.stop();
    }
    const proxied = await startTestServer({ OVERAIR_TRUST_PROXY: 'true' });
    try {
      const https = await signIn(proxied, { token: ADMIN_TOKEN }, { 'x-forwarded-proto': 'https' });
      expect(https.answer.cookies[0]).toContain('; Secure');
      const http = await signIn(proxied, { token: ADMIN_TOKEN }, { 'x-forwarded-proto': 'http' });
      expect(http.answer.cookies[0]).not.toContain('Secure');
    } finally {
      await proxied.stop();
    }
  });

  it('counts failed sign-ins in the failed-login limit, but not visits without a session', async () => {
    const server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_TRUST_PROXY: 'true',
      OVERAIR_AUTH_MAX_FAILURES: '3',
    });
    try {
      const from = (address: string) => ({ 'x-forwarded-for': address });
      // A dashboard opened without a session, or with an ended one, asks first: never a failure.
      for (let visit = 0; visit < 5; visit++) {
        expect((await call(server, 'GET', '/session', { headers: from('192.0.2.1') })).status).toBe(401);
        const ended = { headers: from('192.0.2.1'), cookie: 'B'.repeat(43) };
        expect((await call(server, 'GET', '/apps', ended)).status).toBe(401);
      }
      await signIn(server, ROOT, from('192.0.2.1'));

      const wrong = { ...ROOT, password: 'wrong-password-0' };
      for (let attempt = 0; attempt < 3; attempt++) {
        const answer = await call(server, 'POST', '/session', { body: wrong, headers: from('192.0.2.2') });
        expect(answer.status).toBe(401);
      }
      const blocked = await call(server, 'POST', '/session', { body: ROOT, headers: from('192.0.2.2') });
      expect(blocked).toMatchObject({ status: 429, body: { error: 'too_many_failed_logins' } });
      expect(blocked.cookies).toEqual([]);
      await signIn(server, ROOT, from('192.0.2.3'));
    } finally {
      await server.stop();
    }
  });

  it('validates the settings at start, never echoing the password', () => {
    const base = { OVERAIR_DATA_DIR: os.tmpdir() };
    expect(loadConfig(base).sessionTtlSeconds).toBe(12 * 3600);
    expect(loadConfig({ ...base, OVERAIR_SESSION_TTL: '7d' }).sessionTtlSeconds).toBe(7 * 86_400);
    expect(loadConfig(base, { sessionTtlSeconds: '45m' }).sessionTtlSeconds).toBe(2700);
    for (const [env, message] of [
      [{ OVERAIR_SESSION_TTL: 'forever' }, /OVERAIR_SESSION_TTL \("forever"\)/],
      [{ OVERAIR_SESSION_TTL: '31d' }, /OVERAIR_SESSION_TTL .*at most 30d/],
      [{ OVERAIR_ADMIN_USER: 'root' }, /OVERAIR_ADMIN_PASSWORD: required with OVERAIR_ADMIN_USER/],
      [
        { OVERAIR_ADMIN_PASSWORD: 'secret-password-1' },
        /OVERAIR_ADMIN_USER: required with OVERAIR_ADMIN_PASSWORD/,
      ],
      [
        { OVERAIR_ADMIN_USER: 'root', OVERAIR_ADMIN_PASSWORD: 'short-pw' },
        /OVERAIR_ADMIN_PASSWORD \(8 characters\)/,
      ],
      [{ OVERAIR_ADMIN_USER: '../root', OVERAIR_ADMIN_PASSWORD: 'long-enough-pw' }, /OVERAIR_ADMIN_USER/],
    ] as const) {
      expect(() => loadConfig({ ...base, ...env })).toThrow(message);
    }
    expect(() =>
      loadConfig({ ...base, OVERAIR_ADMIN_USER: 'root', OVERAIR_ADMIN_PASSWORD: 'short-pw' }),
    ).not.toThrow(/short-pw/);
  });
});

describe('overair user commands', () => {
  let server: TestServer;
  let folder: string;
  const env = () => ({ OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN });
  const run = (args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) =>
    cli(args, { cwd: folder, env: { ...env(), ...options.env }, stdin: options.stdin });

  beforeAll(async () => {
    server = await startTestServer();
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-users-'));
  });
  afterAll(async () => {
    await server.stop();
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('creates users with the password from stdin or OVERAIR_PASSWORD, never from a flag', async () => {
    const piped = await run(['user', 'create', 'alice', '--scope', 'admin', '--password-stdin', '--json'], {
      stdin: 'alice-password-1\n',
    });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.json).toMatchObject({ username: 'alice', roles: { server_admin: true } });
    // The newline a pipe adds is not part of the password.
    await signIn(server, { username: 'alice', password: 'alice-password-1' });

    const fromEnv = await run(['user', 'create', 'bob'], { env: { OVERAIR_PASSWORD: 'bob-password-12' } });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toContain('Created user "bob" (read on all apps)');
    expect(fromEnv.stdout + fromEnv.stderr).not.toContain('bob-password-12');
    await signIn(server, { username: 'bob', password: 'bob-password-12' });

    // --password-stdin wins over the environment.
    const both = await run(['user', 'create', 'carol', '--password-stdin'], {
      stdin: 'carol-password-1',
      env: { OVERAIR_PASSWORD: 'not-this-one-123' },
    });
    expect(both.code, both.stderr).toBe(0);
    await signIn(server, { username: 'carol', password: 'carol-password-1' });

    const flag = await run(['user', 'create', 'dave', '--password', 'dave-password-1']);
    expect(flag.code).not.toBe(0);
    const none = await run(['user', 'create', 'dave']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^overair: give the password on stdin/);
    const short = await run(['user', 'create', 'dave', '--password-stdin'], { stdin: 'short\n' });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('at least 10 characters');
    const badName = await run(['user', 'create', '../dave'], { stdin: 'dave-password-1' });
    expect(badName.code).toBe(1);
    const badScope = await run(['user', 'create', 'dave', '--scope', 'root'], { stdin: 'dave-password-1' });
    expect(badScope.stderr).toContain('--scope must be read, publish or admin');
    const duplicate = await run(['user', 'create', 'bob'], { stdin: 'bob-password-12' });
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('[user_exists]');
  });

  it('lists, changes passwords and deletes', async () => {
    const list = await run(['user', 'list', '--json']);
    expect(
      list.json.map((user: { username: string; roles: { all: string } }) => [user.username, user.roles.all]),
    ).toEqual([
      ['alice', 'admin'],
      ['bob', 'read'],
      ['carol', 'read'],
    ]);
    expect(list.stdout).not.toContain('scrypt');
    const table = await run(['user', 'list']);
    expect(table.stdout).toMatch(/USERNAME\s+ROLES/);

    const session = await signIn(server, { username: 'bob', password: 'bob-password-12' });
    const passwd = await run(['user', 'passwd', 'bob', '--password-stdin'], { stdin: 'bob-new-password\n' });
    expect(passwd.code, passwd.stderr).toBe(0);
    expect((await call(server, 'GET', '/session', { cookie: session.cookie })).status).toBe(401);
    await signIn(server, { username: 'bob', password: 'bob-new-password' });

    expect((await run(['user', 'delete', 'bob'])).code).toBe(0);
    expect((await run(['user', 'delete', 'bob'])).stderr).toContain('[user_not_found]');
    const last = await run(['user', 'delete', 'alice']);
    expect(last.code).toBe(1);
    expect(last.stderr).toContain('[last_admin_user]');
    const names = (await run(['user', 'list', '--json'])).json.map(
      (user: { username: string }) => user.username,
    );
    expect(names).toEqual(['alice', 'carol']);
  });
});
