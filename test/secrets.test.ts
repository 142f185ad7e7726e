/**
 * Logs and secrets: with OVERAIR_SECRET_KEY the download-link key, webhook signing secrets and
 * TOTP secrets are stored encrypted (read here from the raw rows) and still sign or check codes; plain ones are encrypted at a
 * restart with the key; a wrong or missing key stops the start. Audit entries and settled webhook
 * deliveries older than their retention are deleted in batches; `overair audit export` writes the
 * log as JSON lines, page by page.
 */
import { createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repos } from '../src/db/index.js';
import { pruneAudit, pruneWebhookDeliveries } from '../src/server.js';
import { cli } from './helpers/cli.js';
import { ADMIN_TOKEN, sendJson, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.secrets';
const KEY = 'the-secret-key-at-rest-0123456789abcdef';
const OTHER_KEY = 'another-secret-key-at-rest-0123456789ab';
const FAST = { retryDelaysMs: [40, 40], timeoutMs: 2000, pollMs: 100 };
const ALLOW_LOOPBACK = { OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' };
const DAY_MS = 86_400_000;

/** A receiver keeping every request's signature headers and body. */
async function startReceiver() {
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function signedBy(request: { headers: http.IncomingHttpHeaders; body: string }, secret: string): boolean {
  const timestamp = String(request.headers['x-overair-timestamp']);
  const expected =
    'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${request.body}`).digest('hex');
  return request.headers['x-overair-signature'] === expected;
}

async function waitFor<T>(probe: () => Promise<T> | T, ms = 5000): Promise<Exclude<T, false>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false>;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A dashboard user with two-factor sign-in: name, password and the TOTP secret. */
interface TotpUser {
  username: string;
  password: string;
  secret: string;
}

const codeOf = (secret: string) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() });

/** A password sign-in, with a second-factor code or not: status, body and the session cookie. */
async function signIn(server: TestServer, body: { username: string; password: string; code?: string }) {
  const answer = await sendJson(`${server.url}/api/v1/session`, 'POST', body, {});
  const cookie = /^overair_session=([^;]+)/.exec(answer.headers.getSetCookie()[0] ?? '')?.[1];
  return { status: answer.status, body: answer.body, cookie };
}

/** Creates a user and enrols an authenticator for them, confirmed with a first code. */
async function enrolTotpUser(server: TestServer, username: string): Promise<TotpUser> {
  const password = `${username}-password-0123`;
  expect((await server.api('POST', '/users', { username, password, scope: 'read' })).status).toBe(201);
  const signedIn = await signIn(server, { username, password });
  expect(signedIn.status).toBe(200);
  const headers = { cookie: `overair_session=${signedIn.cookie}`, 'x-csrf-token': signedIn.body.csrf_token };
  const started = await sendJson(`${server.url}/api/v1/me/totp`, 'POST', undefined, headers);
  expect(started.status).toBe(200);
  const secret = (started.body as { secret: string }).secret;
  const confirmed = await sendJson(
    `${server.url}/api/v1/me/totp/confirm`,
    'POST',
    { code: codeOf(secret) },
    headers,
  );
  expect(confirmed.status).toBe(200);
  return { username, password, secret };
}

/**
 * Signs the user in with a current code: a code is accepted once per 30-second step, so the last
 * step accepted is forgotten first. A wrong code is refused, the right one opens a session.
 */
async function expectCodeSignIn(server: TestServer, user: TotpUser) {
  await runSql(server, 'UPDATE users SET totp_last_step = NULL WHERE username = ?', user.username);
  const { username, password } = user;
  expect((await signIn(server, { username, password })).body.error).toBe('totp_required');
  const current = codeOf(user.secret);
  const wrong = String((Number(current) + 500_000) % 1_000_000).padStart(6, '0');
  expect((await signIn(server, { username, password, code: wrong })).body.error).toBe('invalid_totp_code');
  const signedIn = await signIn(server, { username, password, code: current });
  expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(200);
  expect(signedIn.cookie).toBeDefined();
}

const rawTotpSecret = async (server: TestServer, username: string) =>
  (
    await server.db
      .selectFrom('users')
      .select('totp_secret')
      .where('username', '=', username)
      .executeTakeFirstOrThrow()
  ).totp_secret;
const rawWebhookSecrets = async (server: TestServer) =>
  (await server.db.selectFrom('webhooks').select('secret').orderBy('id').execute()).map((row) => row.secret);
const rawDownloadSecret = async (server: TestServer) =>
  (
    await server.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', 'download_secret')
      .executeTakeFirst()
  )?.value;

describe('secrets at rest', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let first: TestServer;
  let hook: { id: number; secret: string };
  let link: string;
  let totpUser: TotpUser;
  const restarts: TestServer[] = [];

  const restart = async (env: Record<string, string>) => {
    const server = await startTestServer(
      { OVERAIR_PRIVATE_DOWNLOADS: 'true', ...ALLOW_LOOPBACK, ...first.stateEnv, ...env },
      { webhooks: FAST },
    );
    restarts.push(server);
    return server;
  };
  const stopRestarted = async (server: TestServer) => {
    await server.close();
    await fs.rm(server.dataDir, { recursive: true, force: true });
    restarts.splice(restarts.indexOf(server), 1);
  };
  const testDelivery = async (server: TestServer) => {
    const before = receiver.received.length;
    expect((await server.api('POST', `/webhooks/${hook.id}/test`)).status).toBeLessThan(300);
    return waitFor(
      () => receiver.received.length > before && receiver.received[receiver.received.length - 1]!,
    );
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    // Without a key: plain values, as before.
    first = await startTestServer(
      { OVERAIR_PRIVATE_DOWNLOADS: 'true', ...ALLOW_LOOPBACK },
      { webhooks: FAST },
    );
    await first.api('POST', '/apps', { id: APP });
    const zip = await makeZip({ 'index.html': '<html>secrets</html>' });
    const uploaded = await uploadBundle(first, APP, zip, { version: '1.0.0' });
    expect(uploaded.status).toBe(201);
    link = uploaded.body.url;
    hook = (await first.api('POST', '/webhooks', { url: receiver.url, app_id: APP })).body;
    totpUser = await enrolTotpUser(first, 'erin');
    await first.close();
  });

  afterAll(async () => {
    for (const server of [...restarts]) await stopRestarted(server);
    await first.stop();
    await receiver.close();
  });

  it('keeps plain values without OVERAIR_SECRET_KEY', async () => {
    const server = await restart({});
    try {
      expect(await rawWebhookSecrets(server)).toEqual([hook.secret]);
      expect(await rawDownloadSecret(server)).toMatch(/^[\w-]{32,}$/);
      expect(await rawTotpSecret(server, totpUser.username)).toBe(totpUser.secret);
      await expectCodeSignIn(server, totpUser);
    } finally {
      await stopRestarted(server);
    }
  });

  it('encrypts plain values at a start with the key; links and signatures keep working', async () => {
    const server = await restart({ OVERAIR_SECRET_KEY: KEY });
    try {
      const [stored] = await rawWebhookSecrets(server);
      expect(stored).toMatch(/^enc:v1:/);
      expect(stored).not.toContain(hook.secret);
      expect(await rawDownloadSecret(server)).toMatch(/^enc:v1:/);
      // Links handed out before, with the plain key, still verify.
      expect((await fetch(link.replace(first.url, server.url))).status).toBe(200);
      expect(signedBy(await testDelivery(server), hook.secret)).toBe(true);
      // The TOTP secret enrolled without the key is encrypted too, and still checks codes.
      const totpSecret = await rawTotpSecret(server, totpUser.username);
      expect(totpSecret).toMatch(/^enc:v1:/);
      expect(totpSecret).not.toContain(totpUser.secret);
      await expectCodeSignIn(server, totpUser);
      // A new webhook's secret is stored encrypted from the start and signs its deliveries.
      const created = (await server.api('POST', '/webhooks', { url: receiver.url, app_id: APP })).body;
      const secrets = await rawWebhookSecrets(server);
      expect(secrets[1]).toMatch(/^enc:v1:/);
      expect(JSON.stringify(secrets)).not.toContain(created.secret);
      await server.api('DELETE', `/webhooks/${created.id}`);
    } finally {
      await stopRestarted(server);
    }
    // Again with the key: nothing more to encrypt (the same stored values), still working.
    const again = await restart({ OVERAIR_SECRET_KEY: KEY });
    try {
      const [stored] = await rawWebhookSecrets(again);
      expect(signedBy(await testDelivery(again), hook.secret)).toBe(true);
      expect(await rawWebhookSecrets(again)).toEqual([stored]);
      const totpSecret = await rawTotpSecret(again, totpUser.username);
      await expectCodeSignIn(again, totpUser);
      expect(await rawTotpSecret(again, totpUser.username)).toBe(totpSecret);
      expect((await fetch(link.replace(first.url, again.url))).status).toBe(200);
    } finally {
      await stopRestarted(again);
    }
  });

  it('refuses to start with another key, or with none, once values are encrypted', async () => {
    await expect(restart({ OVERAIR_SECRET_KEY: OTHER_KEY })).rejects.toThrow(
      /webhooks\.secret of webhook \d+ was encrypted with another OVERAIR_SECRET_KEY/,
    );
    await expect(restart({})).rejects.toThrow(
      /is encrypted, but OVERAIR_SECRET_KEY is not set: start with the key it was encrypted with/,
    );
  });

  it('generates the download key encrypted on a new database with the key', async () => {
    const server = await startTestServer({ OVERAIR_PRIVATE_DOWNLOADS: 'true', OVERAIR_SECRET_KEY: KEY });
    try {
      expect(await rawDownloadSecret(server)).toMatch(/^enc:v1:/);
      await server.api('POST', '/apps', { id: APP });
      const zip = await makeZip({ 'index.html': '<html>new</html>' });
      const uploaded = await uploadBundle(server, APP, zip, { version: '1.0.0' });
      expect((await fetch(uploaded.body.url)).status).toBe(200);
      expect((await fetch(uploaded.body.url.replace(/sig=[^&]+/, 'sig=' + 'A'.repeat(43)))).status).toBe(403);
    } finally {
      await server.stop();
    }
  });

  it('stores TOTP secrets enrolled with the key encrypted, bound to their user; another key or none stops the start', async () => {
    const server = await startTestServer({ OVERAIR_SECRET_KEY: KEY });
    try {
      const frank = await enrolTotpUser(server, 'frank');
      const stored = await rawTotpSecret(server, frank.username);
      expect(stored).toMatch(/^enc:v1:/);
      expect(stored).not.toContain(frank.secret);
      await expectCodeSignIn(server, frank);
      await server.close();

      // Only TOTP secrets are encrypted in this database (no webhooks, no private downloads).
      const restartWith = (env: Record<string, string>) => startTestServer({ ...server.stateEnv, ...env });
      await expect(restartWith({ OVERAIR_SECRET_KEY: OTHER_KEY })).rejects.toThrow(
        /users\.totp_secret of user \d+ was encrypted with another OVERAIR_SECRET_KEY/,
      );
      await expect(restartWith({})).rejects.toThrow(
        /users\.totp_secret of user \d+ is encrypted, but OVERAIR_SECRET_KEY is not set/,
      );

      // A sealed secret copied into another user's row does not open there.
      const again = await restartWith({ OVERAIR_SECRET_KEY: KEY });
      try {
        expect(
          (
            await again.api('POST', '/users', {
              username: 'grace',
              password: 'grace-password-0123',
              scope: 'read',
            })
          ).status,
        ).toBe(201);
        await runSql(again, 'UPDATE users SET totp_secret = ? WHERE username = ?', stored, 'grace');
      } finally {
        await again.close();
        await fs.rm(again.dataDir, { recursive: true, force: true });
      }
      await expect(restartWith({ OVERAIR_SECRET_KEY: KEY })).rejects.toThrow(
        /users\.totp_secret of user \d+: the encrypted value does not open with OVERAIR_SECRET_KEY/,
      );
    } finally {
      await server.stop();
    }
  });
});

describe('audit retention and export', () => {
  let server: TestServer;
  let cwd: string;
  const run = (args: string[]) =>
    cli(args, { cwd, env: { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN } });
  const insertAudit = async (count: number, at: (i: number) => Date, appId: string | null = null) => {
    for (let start = 0; start < count; start += 100) {
      const rows = Array.from({ length: Math.min(100, count - start) }, (_, k) => ({
        at: at(start + k).toISOString(),
        actor: 'token:seed',
        action: 'seed.entry',
        app_id: appId,
        target: String(start + k),
        detail: JSON.stringify({ n: start + k }),
      }));
      await server.db.insertInto('audit_log').values(rows).execute();
    }
  };

  beforeAll(async () => {
    server = await startTestServer();
    cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-audit-'));
  });
  afterAll(async () => {
    await server.stop();
    await fs.rm(cwd, { recursive: true, force: true });
  });

  it('deletes entries older than the retention in batches, and keeps recent ones', async () => {
    await server.db.deleteFrom('audit_log').execute();
    const now = Date.now();
    await insertAudit(25, (i) => new Date(now - (400 - i) * DAY_MS));
    await insertAudit(5, (i) => new Date(now - (10 - i) * DAY_MS));
    const repos = new Repos(server.db);
    let batches = 0;
    const cutoff = new Date(now - 366 * DAY_MS).toISOString();
    expect(await repos.audit.deleteBefore(cutoff, async () => (batches++, true), 10)).toBe(25);
    expect(batches).toBe(2);
    const left = await server.db.selectFrom('audit_log').select('at').execute();
    expect(left).toHaveLength(5);
    expect(left.every((row) => row.at >= cutoff)).toBe(true);
    // What the hourly timer runs: nothing more is old.
    expect(await pruneAudit(repos, 366 * 86_400)).toBe(0);
    expect(await pruneAudit(repos, 5 * 86_400)).toBe(5);
  });

  it('exports JSON lines oldest first, over several pages, from --since, of --app', async () => {
    await server.db.deleteFrom('audit_log').execute();
    const now = Date.now();
    await insertAudit(620, (i) => new Date(now - 100 * DAY_MS + i * 1000));
    await insertAudit(3, (i) => new Date(now - 2 * DAY_MS + i * 1000), APP);
    const all = await run(['audit', 'export']);
    expect(all.code).toBe(0);
    const lines = all.stdout.trimEnd().split('\n');
    // 623 seeded and the requests of the export itself (at least its first page's).
    expect(lines.length).toBeGreaterThanOrEqual(623);
    const entries = lines.map((line) => JSON.parse(line));
    expect(entries[0]).toMatchObject({ action: 'seed.entry', target: '0', detail: { n: 0 } });
    expect(entries.map((entry) => entry.id)).toEqual(
      [...entries.map((entry) => entry.id)].sort((a, b) => a - b),
    );
    expect(new Set(entries.map((entry) => entry.id)).size).toBe(entries.length);

    const recent = await run(['audit', 'export', '--since', '30d']);
    const recentEntries = recent.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(recentEntries.filter((entry) => entry.action === 'seed.entry')).toHaveLength(3);
    const sinceDate = new Date(now - 50 * DAY_MS).toISOString().slice(0, 10);
    const fromDate = await run(['audit', 'export', '--since', sinceDate, '--app', APP]);
    expect(
      fromDate.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).target),
    ).toEqual(['0', '1', '2']);

    const bad = await run(['audit', 'export', '--since', 'yesterday']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--since must be an ISO date');
    // The route itself pages by cursor and refuses a bad since.
    const page = await server.api('GET', '/audit/export?limit=2');
    expect(page.body.items).toHaveLength(2);
    const next = await server.api('GET', `/audit/export?limit=2&cursor=${page.body.next_cursor}`);
    expect(next.body.items[0].id).toBeGreaterThan(page.body.items[1].id);
    expect((await server.api('GET', '/audit/export?since=soon')).status).toBe(400);
  });
});

describe('webhook delivery retention', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(ALLOW_LOOPBACK);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('deletes settled deliveries older than the retention, never pending ones', async () => {
    const hook = (await server.api('POST', '/webhooks', { url: 'http://127.0.0.1:9/hook' })).body;
    const now = Date.now();
    const row = (daysAgo: number, status: string) => ({
      webhook_id: hook.id,
      event: 'test',
      payload: '{}',
      status,
      response_status: null,
      last_error: null,
      // Pending ones are due far later: the dispatcher leaves them alone during the test.
      next_attempt_at: status === 'pending' ? new Date(now + 30 * DAY_MS).toISOString() : null,
      created_at: new Date(now - daysAgo * DAY_MS).toISOString(),
      delivered_at: null,
    });
    await server.db
      .insertInto('webhook_deliveries')
      .values([
        row(40, 'delivered'),
        row(39, 'failed'),
        row(38, 'pending'),
        row(31, 'delivered'),
        row(2, 'delivered'),
      ])
      .execute();
    expect(await pruneWebhookDeliveries(new Repos(server.db), 30 * 86_400)).toBe(3);
    const left = await server.db
      .selectFrom('webhook_deliveries')
      .select(['status', 'created_at'])
      .orderBy('id')
      .execute();
    expect(left.map((delivery) => delivery.status)).toEqual(['pending', 'delivered']);
  });
});
