/**
 * The failed-login limit under concurrency: guesses sent all at once are counted while they are
 * checked, not after, so the limit holds on every backend (SQLite answers some requests in one
 * turn of the event loop; PostgreSQL lets them all reach the check before the first is counted).
 * And the sign-in's Origin check. Real servers, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, sendJson, startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = { username: 'root', password: 'root-password-0123' };
const WRONG_TOKEN = 'oat_wrong-token-0123456789abcdefghij';
const LIMIT = 10;

function signIn(server: TestServer, body: object, headers: Record<string, string> = {}) {
  return sendJson(`${server.url}/api/v1/session`, 'POST', body, headers);
}

describe('failed-login limit under concurrency', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_TRUST_PROXY: 'true',
      OVERAIR_AUTH_MAX_FAILURES: String(LIMIT),
      OVERAIR_AUTH_FAILURE_WINDOW: '5m',
    });
  });
  afterAll(() => server.stop());

  it('checks at most the limit of 300 concurrent wrong passwords; the right one at #280 gets no session', async () => {
    const address = { 'x-forwarded-for': '203.0.113.50' };
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        signIn(server, i === 279 ? ROOT : { username: ROOT.username, password: `wrong-${i}` }, address),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses[279]).toBe(429);
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(LIMIT);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(300 - LIMIT);
    expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
    for (const answer of answers.filter((a) => a.status === 429)) {
      expect(answer.body).toMatchObject({ error: 'too_many_failed_logins', message: expect.any(String) });
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(answer.headers.getSetCookie()).toEqual([]);
    }
    // Once those are checked, the address is blocked for the window, right password or not.
    const after = await signIn(server, ROOT, address);
    expect(after.status).toBe(429);
    expect(Number(after.headers.get('retry-after'))).toBeGreaterThan(200);
    // Another address signs in.
    expect((await signIn(server, ROOT, { 'x-forwarded-for': '203.0.113.51' })).status).toBe(200);
  });

  it('blocks most of 100 concurrent bad bearer tokens with 429 and Retry-After', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.60', authorization: `Bearer ${WRONG_TOKEN}` };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => sendJson(`${server.url}/api/v1/apps`, 'GET', undefined, headers)),
    );
    const unauthorized = answers.filter((answer) => answer.status === 401).length;
    const refused = answers.filter((answer) => answer.status === 429);
    expect(unauthorized).toBeLessThanOrEqual(LIMIT);
    expect(unauthorized + refused.length).toBe(100);
    for (const answer of refused) expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    const valid = await sendJson(`${server.url}/api/v1/apps`, 'GET', undefined, {
      ...headers,
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(valid.status).toBe(429);
  });

  it('does not count correct sign-ins or valid tokens, even concurrent ones', async () => {
    const address = { 'x-forwarded-for': '203.0.113.70' };
    // Fewer at once than the limit: each holds a slot only while it is checked.
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(
        Array.from({ length: LIMIT - 1 }, () => signIn(server, ROOT, address)),
      );
      expect(answers.map((answer) => answer.status)).toEqual(Array(LIMIT - 1).fill(200));
      const tokens = await Promise.all(
        Array.from({ length: LIMIT - 1 }, () =>
          sendJson(`${server.url}/api/v1/whoami`, 'GET', undefined, {
            ...address,
            authorization: `Bearer ${ADMIN_TOKEN}`,
          }),
        ),
      );
      expect(tokens.map((answer) => answer.status)).toEqual(Array(LIMIT - 1).fill(200));
    }
    // Nothing was counted: LIMIT - 1 failures are still allowed before the block.
    for (let failure = 0; failure < LIMIT - 1; failure++) {
      const wrong = await signIn(server, { ...ROOT, password: 'not-the-password' }, address);
      expect(wrong.status).toBe(401);
    }
    expect((await signIn(server, ROOT, address)).status).toBe(200);
  });
});

describe('sign-in Origin check', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_AUTH_MAX_FAILURES: '0',
    });
  });
  afterAll(() => server.stop());

  it.each(['https://evil.example', 'http://127.0.0.1:1', 'null', 'not a url'])(
    'refuses a browser sign-in from origin %s with 403 {error, message}',
    async (origin) => {
      const answer = await signIn(server, ROOT, { origin });
      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ error: 'cross_origin_request', message: expect.any(String) });
      expect(answer.headers.getSetCookie()).toEqual([]);
    },
  );

  it("lets through the server's own origin, and a request without Origin (CLI, curl)", async () => {
    expect((await signIn(server, ROOT, { origin: new URL(server.url).origin })).status).toBe(200);
    expect((await signIn(server, ROOT)).status).toBe(200);
  });

  it('compares with OVERAIR_PUBLIC_URL when it is set', async () => {
    const behind = await startTestServer({
      OVERAIR_ADMIN_USER: ROOT.username,
      OVERAIR_ADMIN_PASSWORD: ROOT.password,
      OVERAIR_PUBLIC_URL: 'https://ota.example.com',
    });
    try {
      expect((await signIn(behind, ROOT, { origin: 'https://ota.example.com' })).status).toBe(200);
      const own = await signIn(behind, ROOT, { origin: new URL(behind.url).origin });
      expect(own).toMatchObject({ status: 403, body: { error: 'cross_origin_request' } });
      expect((await signIn(behind, ROOT, { origin: 'http://ota.example.com' })).status).toBe(403);
    } finally {
      await behind.stop();
    }
  });
});
