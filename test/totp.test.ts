/**
 * Two-factor sign-in (TOTP) and the listing of sessions, on a real server: enrolment and its
 * confirmation, sign-in that needs a code once it is on, wrong and replayed codes refused and counted
 * by the failed-login limit, recovery codes usable once, turning it off, the setting that requires
 * it for admins; users and admins listing and ending sessions. Codes are made with `otpauth`, the
 * library the server checks them with.
 */
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson, startTestServer, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';

const ROOT = { username: 'root', password: 'root-password-0123' };

interface Answer {
  status: number;
  body: any;
  cookies: string[];
}

interface Session {
  cookie: string;
  csrf: string;
}

async function call(
  server: TestServer,
  method: string,
  route: string,
  options: { body?: unknown; session?: Session; address?: string; userAgent?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.session) {
    headers.cookie = `overair_session=${options.session.cookie}`;
    headers['x-csrf-token'] = options.session.csrf;
  }
  // The server trusts X-Forwarded-For: each test fails logins from an address of its own.
  headers['x-forwarded-for'] = options.address ?? '198.51.100.1';
  if (options.userAgent) headers['user-agent'] = options.userAgent;
  const answer = await sendJson(`${server.url}/api/v1${route}`, method, options.body, headers);
  return { status: answer.status, body: answer.body, cookies: answer.headers.getSetCookie() };
}

function sessionOf(answer: Answer): Session {
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  const cookie = /^overair_session=([^;]+)/.exec(answer.cookies[0] ?? '')?.[1];
  expect(cookie).toBeDefined();
  return { cookie: cookie!, csrf: answer.body.csrf_token };
}

/** The code of `secret` `steps` time steps from now (the server accepts one step either side). */
const codeOf = (secret: string, steps = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + steps * 30_000 });

/**
 * Forgets the last step accepted for a user: a code is accepted once per 30-second step, and tests
 * that sign in several times would otherwise wait for the next step between sign-ins.
 */
const forgetLastStep = (server: TestServer, username: string) =>
  runSql(server, 'UPDATE users SET totp_last_step = NULL WHERE username = ?', username);

async function createUser(server: TestServer, username: string, scope: string) {
  const password = `${username}-password-0123`;
  expect((await server.api('POST', '/users', { username, password, scope })).status).toBe(201);
  return { username, password };
}

/** Signs a user in, enrols an authenticator and confirms it: the secret and recovery codes. */
async function enrol(server: TestServer, user: { username: string; password: string }, address: string) {
  const session = sessionOf(await call(server, 'POST', '/session', { body: user, address }));
  const started = await call(server, 'POST', '/me/totp', { session, address });
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const secret: string = started.body.secret;
  const confirmed = await call(server, 'POST', '/me/totp/confirm', {
    session,
    address,
    body: { code: codeOf(secret) },
  });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
  return { secret, recoveryCodes: confirmed.body.recovery_codes as string[], session };
}

describe('two-factor sign-in', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_TRUST_PROXY: 'true',
      OVERAIR_AUTH_MAX_FAILURES: '3',
    });
  });
  afterAll(() => server.stop());

  it('enrols: a secret, its otpauth URI and QR code; a code confirms it and gives ten recovery codes', async () => {
    const alice = await createUser(server, 'alice', 'publish');
    const address = '198.51.100.10';
    const session = sessionOf(await call(server, 'POST', '/session', { body: alice, address }));
    expect((await call(server, 'GET', '/me/totp', { session, address })).body).toEqual({
      enabled: false,
      enrolling: false,
      enabled_at: null,
      recovery_codes_left: 0,
    });

    const started = await call(server, 'POST', '/me/totp', { session, address });
    expect(started.status).toBe(200);
    const { secret, otpauth_uri, qr_code } = started.body;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(otpauth_uri).toMatch(/^otpauth:\/\/totp\/Overair:alice\?/);
    expect(otpauth_uri).toContain(`secret=${secret}`);
    expect(qr_code).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(Buffer.from(qr_code.split(',')[1], 'base64').toString()).toContain('<svg');
    expect((await call(server, 'GET', '/me/totp', { session, address })).body.enrolling).toBe(true);

    // Not in force until confirmed: the password alone still signs in.
    expect((await call(server, 'POST', '/session', { body: alice, address })).status).toBe(200);

    const wrong = await call(server, 'POST', '/me/totp/confirm', {
      session,
      address,
      body: { code: codeOf(secret, 5) },
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    const confirmed = await call(server, 'POST', '/me/totp/confirm', {
      session,
      address,
      body: { code: codeOf(secret) },
    });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.enabled).toBe(true);
    expect(confirmed.body.recovery_codes).toHaveLength(10);
    expect(new Set(confirmed.body.recovery_codes).size).toBe(10);
    for (const code of confirmed.body.recovery_codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);

    // Stored hashed; the API never shows the secret again.
    const stored = JSON.stringify(await runSql(server, 'SELECT * FROM recovery_codes'));
    for (const code of confirmed.body.recovery_codes) expect(stored).not.toContain(code);
    const users = await server.api('GET', '/users');
    const listed = users.body.items.find((user: { username: string }) => user.username === 'alice');
    expect(listed).toMatchObject({ totp_enabled: true });
    expect(JSON.stringify(users.body)).not.toContain(secret);
    const again = await call(server, 'POST', '/me/totp', { session, address });
    expect(again).toMatchObject({ status: 409, body: { error: 'totp_already_enabled' } });
  });

  it('needs a code after the right password, refuses a wrong one and a replayed one', async () => {
    const bob = await createUser(server, 'bob', 'read');
    const { secret } = await enrol(server, bob, '198.51.100.20');
    await forgetLastStep(server, 'bob');
    const address = '198.51.100.21';

    const missing = await call(server, 'POST', '/session', { body: bob, address });
    expect(missing).toMatchObject({ status: 401, body: { error: 'totp_required' } });
    expect(missing.cookies).toEqual([]);
    // A wrong password with or without a code says nothing about a code.
    const wrongPassword = await call(server, 'POST', '/session', {
      body: { ...bob, password: 'not-the-password', code: codeOf(secret) },
      address,
    });
    expect(wrongPassword).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } });
    const wrongCode = await call(server, 'POST', '/session', {
      body: { ...bob, code: codeOf(secret, 3) },
      address,
    });
    expect(wrongCode).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    expect(wrongCode.cookies).toEqual([]);

    const code = codeOf(secret);
    const session = sessionOf(await call(server, 'POST', '/session', { body: { ...bob, code } }));
    expect((await call(server, 'GET', '/whoami', { session })).body.name).toBe('bob');
    const replayed = await call(server, 'POST', '/session', {
      body: { ...bob, code },
      address: '198.51.100.22',
    });
    expect(replayed).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    // An earlier step than the last accepted is refused too; the next one is accepted.
    const earlier = await call(server, 'POST', '/session', {
      body: { ...bob, code: codeOf(secret, -1) },
      address: '198.51.100.22',
    });
    expect(earlier).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    sessionOf(
      await call(server, 'POST', '/session', {
        body: { ...bob, code: codeOf(secret, 1) },
        address: '198.51.100.23',
      }),
    );
  });

  it('counts wrong codes as failed logins (429 after the limit), but not a missing code', async () => {
    const carol = await createUser(server, 'carol', 'read');
    const { secret } = await enrol(server, carol, '198.51.100.30');
    await forgetLastStep(server, 'carol');

    const calm = '198.51.100.31';
    for (let i = 0; i < 5; i++) {
      const answer = await call(server, 'POST', '/session', { body: carol, address: calm });
      expect(answer.body.error).toBe('totp_required');
    }

    const guesser = '198.51.100.32';
    for (let i = 0; i < 3; i++) {
      const answer = await call(server, 'POST', '/session', {
        body: { ...carol, code: String((Number(codeOf(secret)) + 1 + i) % 1_000_000).padStart(6, '0') },
        address: guesser,
      });
      expect(answer).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    }
    const blocked = await call(server, 'POST', '/session', {
      body: { ...carol, code: codeOf(secret) },
      address: guesser,
    });
    expect(blocked).toMatchObject({ status: 429, body: { error: 'too_many_failed_logins' } });
    // The right code from another address still works.
    sessionOf(await call(server, 'POST', '/session', { body: { ...carol, code: codeOf(secret) } }));
  });

  it('accepts each recovery code once, and turns two-factor sign-in off with a code', async () => {
    const dave = await createUser(server, 'dave', 'read');
    const { secret, recoveryCodes } = await enrol(server, dave, '198.51.100.40');
    const address = '198.51.100.41';
    const [first, second] = recoveryCodes as [string, string];

    const session = sessionOf(await call(server, 'POST', '/session', { body: { ...dave, code: first } }));
    const reused = await call(server, 'POST', '/session', { body: { ...dave, code: first }, address });
    expect(reused).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    // Case and dashes do not matter.
    sessionOf(
      await call(server, 'POST', '/session', {
        body: { ...dave, code: second.toUpperCase().replace(/-/g, '') },
      }),
    );
    expect((await call(server, 'GET', '/me/totp', { session })).body).toMatchObject({
      enabled: true,
      recovery_codes_left: 8,
    });

    const wrong = await call(server, 'DELETE', '/me/totp', {
      session,
      address: '198.51.100.42',
      body: { code: 'aaaa-bbbb-cccc-dddd' },
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'invalid_totp_code' } });
    // The session survives a wrong code (a 401 here does not sign out).
    expect((await call(server, 'GET', '/session', { session })).status).toBe(200);
    await forgetLastStep(server, 'dave');
    const off = await call(server, 'DELETE', '/me/totp', { session, body: { code: codeOf(secret) } });
    expect(off).toMatchObject({ status: 200, body: { enabled: false } });
    expect(
      await runSql(
        server,
        'SELECT * FROM recovery_codes WHERE user_id = (SELECT id FROM users WHERE username = ?)',
        'dave',
      ),
    ).toEqual([]);
    sessionOf(await call(server, 'POST', '/session', { body: dave }));
    const again = await call(server, 'DELETE', '/me/totp', { session, body: { code: codeOf(secret) } });
    expect(again).toMatchObject({ status: 409, body: { error: 'totp_not_enabled' } });
  });

  it("lets an admin turn a user's two-factor sign-in off, ending their sessions", async () => {
    const erin = await createUser(server, 'erin', 'read');
    const { session } = await enrol(server, erin, '198.51.100.50');
    const reset = await server.api('DELETE', '/users/erin/totp');
    expect(reset).toMatchObject({ status: 200, body: { enabled: false } });
    expect((await call(server, 'GET', '/session', { session })).status).toBe(401);
    sessionOf(await call(server, 'POST', '/session', { body: erin }));
    expect((await server.api('DELETE', '/users/erin/totp')).body.error).toBe('totp_not_enabled');
  });

  it('is for users: a token has none (400 user_session_required)', async () => {
    const answer = await server.api('POST', '/me/totp');
    expect(answer).toMatchObject({ status: 400, body: { error: 'user_session_required' } });
  });
});

describe('OVERAIR_REQUIRE_TOTP_FOR_ADMINS', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_REQUIRE_TOTP_FOR_ADMINS: 'true',
      OVERAIR_AUTH_MAX_FAILURES: '0',
    });
  });
  afterAll(() => server.stop());

  it('gives an admin without it a session that may only enrol, lifted once enrolled', async () => {
    const signIn = await call(server, 'POST', '/session', { body: ROOT });
    expect(signIn.body.totp_enrolment_required).toBe(true);
    const session = sessionOf(signIn);
    const refused = await call(server, 'GET', '/apps', { session });
    expect(refused).toMatchObject({ status: 403, body: { error: 'totp_enrolment_required' } });
    expect((await call(server, 'GET', '/users', { session })).status).toBe(403);
    expect((await call(server, 'GET', '/whoami', { session })).status).toBe(200);

    const started = await call(server, 'POST', '/me/totp', { session });
    const confirmed = await call(server, 'POST', '/me/totp/confirm', {
      session,
      body: { code: codeOf(started.body.secret) },
    });
    expect(confirmed.status).toBe(200);
    expect((await call(server, 'GET', '/apps', { session })).status).toBe(200);
    expect((await call(server, 'GET', '/session', { session })).body.totp_enrolment_required).toBe(false);
  });

  it('leaves users below admin and tokens alone', async () => {
    const user = await createUser(server, 'publisher', 'publish');
    const signIn = await call(server, 'POST', '/session', { body: user });
    expect(signIn.body.totp_enrolment_required).toBe(false);
    expect((await call(server, 'GET', '/apps', { session: sessionOf(signIn) })).status).toBe(200);
    expect((await server.api('GET', '/users')).status).toBe(200);
  });
});

describe('sessions', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_AUTH_MAX_FAILURES: '0',
    });
  });
  afterAll(() => server.stop());

  it('lists and ends your own sessions, and no one else’s', async () => {
    const frank = await createUser(server, 'frank', 'read');
    const grace = await createUser(server, 'grace', 'read');
    const laptop = sessionOf(
      await call(server, 'POST', '/session', { body: frank, userAgent: 'Laptop/1.0' }),
    );
    const phone = sessionOf(await call(server, 'POST', '/session', { body: frank, userAgent: 'Phone/2.0' }));
    const other = sessionOf(await call(server, 'POST', '/session', { body: grace }));

    const listed = await call(server, 'GET', '/me/sessions', { session: laptop });
    expect(listed.status).toBe(200);
    expect(listed.body.items).toHaveLength(2);
    const [newest, oldest] = listed.body.items;
    expect(newest).toMatchObject({ user: 'frank', token: null, user_agent: 'Phone/2.0', current: false });
    expect(oldest).toMatchObject({ user: 'frank', user_agent: 'Laptop/1.0', current: true });
    expect(oldest.address).toEqual(expect.any(String));
    expect(oldest.last_used_at).toEqual(expect.any(String));
    expect(JSON.stringify(listed.body)).not.toContain(laptop.cookie);
    expect(JSON.stringify(listed.body)).not.toContain(laptop.csrf);

    const graceSession = (await call(server, 'GET', '/me/sessions', { session: other })).body.items[0];
    const notMine = await call(server, 'DELETE', `/me/sessions/${graceSession.id}`, { session: laptop });
    expect(notMine).toMatchObject({ status: 404, body: { error: 'session_not_found' } });
    expect((await call(server, 'GET', '/session', { session: other })).status).toBe(200);

    const ended = await call(server, 'DELETE', `/me/sessions/${newest.id}`, { session: laptop });
    expect(ended).toMatchObject({ status: 200, body: { ended: true } });
    expect((await call(server, 'GET', '/session', { session: phone })).status).toBe(401);
    expect((await call(server, 'GET', '/apps', { session: phone })).status).toBe(401);
    expect((await call(server, 'GET', '/session', { session: laptop })).status).toBe(200);

    // Ending your current session signs you out.
    const self = await call(server, 'DELETE', `/me/sessions/${oldest.id}`, { session: laptop });
    expect(self.status).toBe(200);
    expect(self.cookies[0]).toMatch(/^overair_session=;/);
    expect((await call(server, 'GET', '/session', { session: laptop })).status).toBe(401);
  });

  it("lets an admin list everyone's sessions and end any; not a user below admin", async () => {
    const heidi = await createUser(server, 'heidi', 'publish');
    const session = sessionOf(await call(server, 'POST', '/session', { body: heidi }));
    const refused = await call(server, 'GET', '/sessions', { session });
    expect(refused).toMatchObject({ status: 403, body: { error: 'forbidden' } });

    const all = await server.api('GET', '/sessions');
    expect(all.status).toBe(200);
    const hers = all.body.items.filter((item: { user: string }) => item.user === 'heidi');
    expect(hers).toHaveLength(1);
    const ended = await server.api('DELETE', `/sessions/${hers[0].id}`);
    expect(ended).toMatchObject({ status: 200, body: { ended: true } });
    expect((await call(server, 'GET', '/apps', { session })).status).toBe(401);
    expect((await server.api('DELETE', `/sessions/${hers[0].id}`)).status).toBe(404);

    const audit = await server.api('GET', '/audit');
    expect(audit.body.items.some((entry: { action: string }) => entry.action === 'session.end')).toBe(true);
  });
});
