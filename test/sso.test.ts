import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from './helpers/dashboard-build.js';
import { startTestProvider, type TestProvider } from './helpers/oidc-provider.js';
import { freePort } from './helpers/ports.js';
import { ADMIN_TOKEN, sendJson, startTestServer, type TestServer } from './helpers/server.js';

/**
 * Single sign-on with OpenID Connect, end to end: Chromium (as in test/dashboard.test.ts) signs in
 * through a real OpenID provider (the certified oidc-provider, test/helpers/oidc-provider.ts) on
 * another site than the server (localhost against 127.0.0.1), its sign-in and consent pages and all.
 * Roles come from the groups claim at every sign-in; refusals (domain, group, a local user's name, a
 * wrong audience, an expired ID token, a state that does not match) come back to the sign-in page
 * with words and no session; password sign-in can be turned off.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '..');
const PROVIDER_NAME = 'Test IdP';
const CALLBACK = '/api/v1/session/oidc/callback';

const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(`sso.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

interface AuditItem {
  actor: string;
  action: string;
  detail: Record<string, unknown> | null;
}

describe.skipIf(!available && !process.env.CI)(
  'single sign-on with OpenID Connect',
  { timeout: 90_000 },
  () => {
    let webDir: string;
    let provider: TestProvider;
    /** SSO with roles from groups, email domain example.com, password sign-in on. */
    let server: TestServer;
    /** Password sign-in off, only the group `staff`, the client secret read from a file. */
    let strict: TestServer;
    let browser: Browser;
    const contexts: BrowserContext[] = [];

    beforeAll(async () => {
      webDir = await buildDashboard();
      const [providerPort, serverPort, strictPort] = [await freePort(), await freePort(), await freePort()];
      const urlOf = (port: number) => `http://127.0.0.1:${port}`;
      provider = await startTestProvider({
        port: providerPort,
        host: 'localhost',
        redirectUris: [urlOf(serverPort) + CALLBACK, urlOf(strictPort) + CALLBACK],
      });
      const sso = {
        OVERAIR_OIDC_ISSUER: provider.issuer,
        OVERAIR_OIDC_CLIENT_ID: provider.clientId,
        OVERAIR_OIDC_SCOPES: 'openid email profile groups',
        OVERAIR_OIDC_PROVIDER_NAME: PROVIDER_NAME,
      };
      server = await startTestServer(
        {
          ...sso,
          OVERAIR_PORT: String(serverPort),
          OVERAIR_PUBLIC_URL: urlOf(serverPort),
          OVERAIR_OIDC_CLIENT_SECRET: provider.clientSecret,
          OVERAIR_OIDC_ROLES:
            'overair-admins=server-admin, mobile-devs=publish, viewers=read, ' +
            'app-team=release@com.example.sso, app-team=read@com.example.not-yet',
          OVERAIR_OIDC_ALLOWED_DOMAINS: 'example.com',
          OVERAIR_ADMIN_USER: 'admin',
          OVERAIR_ADMIN_PASSWORD: 'correct horse battery staple',
        },
        { dashboardDir: webDir },
      );
      const secretFile = path.join(webDir, 'client-secret');
      await fs.writeFile(secretFile, `${provider.clientSecret}\n`, { mode: 0o600 });
      strict = await startTestServer(
        {
          ...sso,
          OVERAIR_PORT: String(strictPort),
          // The callback given outright, rather than from OVERAIR_PUBLIC_URL.
          OVERAIR_OIDC_REDIRECT_URL: urlOf(strictPort) + CALLBACK,
          OVERAIR_OIDC_CLIENT_SECRET_FILE: secretFile,
          OVERAIR_OIDC_ROLES: 'staff=read,mobile-devs=publish',
          OVERAIR_OIDC_ALLOWED_GROUPS: 'staff',
          OVERAIR_OIDC_USERNAME_CLAIM: 'preferred_username',
          OVERAIR_PASSWORD_SIGN_IN: 'false',
          OVERAIR_ADMIN_USER: 'admin',
          OVERAIR_ADMIN_PASSWORD: 'correct horse battery staple',
        },
        { dashboardDir: webDir },
      );
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      });
    });

    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      await strict?.stop();
      await provider?.close();
      if (webDir) await fs.rm(webDir, { recursive: true, force: true });
    });

    /** A fresh browser (no session here, none at the provider) on `target`'s dashboard. */
    async function newPage(target: TestServer): Promise<Page> {
      const context = await browser.newContext({ baseURL: target.url });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      return page;
    }

    /**
     * Clicks "Sign in with Test IdP" and goes through the provider's sign-in page (any password) and,
     * when it asks, its consent page, until the browser is back on the server.
     */
    async function signInThroughProvider(page: Page, target: TestServer, login: string): Promise<void> {
      await page.goto('/');
      await page.getByRole('link', { name: `Sign in with ${PROVIDER_NAME}` }).click();
      await page.waitForURL((url) => url.origin === provider.issuer);
      await page.locator('input[name=login]').fill(login);
      await page.locator('input[name=password]').fill('any password');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      const consent = page.getByRole('button', { name: 'Continue' });
      const back = (url: URL) => url.origin === target.url.replace('localhost', '127.0.0.1');
      await expect
        .poll(async () => back(new URL(page.url())) || (await consent.isVisible()), { timeout: 15_000 })
        .toBe(true);
      if (!back(new URL(page.url()))) await consent.click();
      await page.waitForURL((url) => back(url) && !url.pathname.startsWith('/api/'));
    }

    /** The browser's session as the dashboard reads it, or the status of the refusal. */
    const sessionOf = (page: Page) =>
      page.evaluate(async () => {
        const answer = await fetch('/api/v1/session');
        return answer.ok
          ? ((await answer.json()) as { user: { name: string; roles: unknown; kind: string } }).user
          : answer.status;
      });

    const audit = async (target: TestServer, action: string): Promise<AuditItem[]> => {
      const { body } = await target.api('GET', '/audit?limit=200');
      return (body.items as AuditItem[]).filter((item) => item.action === action);
    };

    it('signs a member in with the role of their group, and sets it again at every sign-in', async () => {
      provider.accounts.set('ana', { email: 'ana@example.com', groups: ['mobile-devs', 'unmapped'] });
      const page = await newPage(server);
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      await signInThroughProvider(page, server, 'ana');
      await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
      expect(await sessionOf(page)).toEqual({
        name: 'ana@example.com',
        roles: { server_admin: false, all: 'publish', apps: {} },
        kind: 'user',
      });
      const [signIn] = await audit(server, 'sso.sign_in');
      expect(signIn).toMatchObject({
        actor: 'user:ana@example.com',
        detail: { issuer: provider.issuer, subject: 'ana', roles: 'publish on all apps', created: true },
      });
      // The user has no password anyone could use, nor set.
      const setPassword = await server.api('PUT', '/users/ana@example.com/password', {
        password: 'a new password of hers',
      });
      expect(setPassword.body.error).toBe('sso_user_has_no_password');
      const guess = await sendJson(
        `${server.url}/api/v1/session`,
        'POST',
        {
          username: 'ana@example.com',
          password: 'sso:no-password',
        },
        {},
      );
      expect(guess.status).toBe(401);

      // Moved to a read-only group: the next sign-in (another browser) lowers her role, and the first
      // browser's session, which reads her role at each request, has the lower one at once.
      provider.accounts.set('ana', { email: 'ana@example.com', groups: ['viewers'] });
      const second = await newPage(server);
      await signInThroughProvider(second, server, 'ana');
      expect(await sessionOf(second)).toMatchObject({
        name: 'ana@example.com',
        roles: { server_admin: false, all: 'read', apps: {} },
      });
      expect(await sessionOf(page)).toMatchObject({ roles: { server_admin: false, all: 'read', apps: {} } });
      expect((await audit(server, 'sso.sign_in'))[0]?.detail).toMatchObject({
        roles: 'read on all apps',
        previous_roles: 'publish on all apps',
      });

      // Out of every group: refused, and her open sessions end.
      provider.accounts.set('ana', { email: 'ana@example.com', groups: [] });
      const third = await newPage(server);
      await signInThroughProvider(third, server, 'ana');
      await expect
        .poll(() => third.getByRole('alert').textContent())
        .toBe('Single sign-on refused: none of your groups gives a role on this server.');
      expect(await sessionOf(third)).toBe(401);
      expect(await sessionOf(page)).toBe(401);
      expect(await sessionOf(second)).toBe(401);
      expect((await audit(server, 'sso.refused'))[0]).toMatchObject({
        actor: 'user:ana@example.com',
        detail: { reason: 'no_role', sessions_ended: 2 },
      });
      expect(problems).toEqual([]);
    });

    it('makes a member of the admins group a server admin', async () => {
      provider.accounts.set('root', { email: 'root@example.com', groups: ['overair-admins'] });
      const page = await newPage(server);
      await signInThroughProvider(page, server, 'root');
      expect(await sessionOf(page)).toMatchObject({
        name: 'root@example.com',
        roles: { server_admin: true },
        kind: 'user',
      });
      await page.getByRole('link', { name: 'Users' }).click();
      await expect.poll(() => page.getByText('root@example.com').count()).toBeGreaterThan(0);
    });

    it('gives a group a role on one app only, and leaves out apps that do not exist yet', async () => {
      expect((await server.api('POST', '/apps', { id: 'com.example.sso', name: 'SSO app' })).status).toBe(
        201,
      );
      provider.accounts.set('tess', { email: 'tess@example.com', groups: ['app-team'] });
      const page = await newPage(server);
      await signInThroughProvider(page, server, 'tess');
      await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
      expect(await sessionOf(page)).toEqual({
        name: 'tess@example.com',
        roles: { server_admin: false, all: null, apps: { 'com.example.sso': 'release' } },
        kind: 'user',
      });
      // Her session sees that app and no other, and may release there.
      const apps = await page.evaluate(async () => (await (await fetch('/api/v1/apps')).json()) as unknown);
      expect(apps).toMatchObject({ items: [{ id: 'com.example.sso' }] });
      expect((apps as { items: unknown[] }).items).toHaveLength(1);
      // The app named later exists now: her next sign-in gives her a role there too.
      expect((await server.api('POST', '/apps', { id: 'com.example.not-yet', name: 'Later' })).status).toBe(
        201,
      );
      const again = await newPage(server);
      await signInThroughProvider(again, server, 'tess');
      expect(await sessionOf(again)).toMatchObject({
        roles: { apps: { 'com.example.sso': 'release', 'com.example.not-yet': 'read' } },
      });
    });

    it('refuses a user whose email is outside the allowed domains', async () => {
      provider.accounts.set('eve', { email: 'eve@example.org', groups: ['overair-admins'] });
      const page = await newPage(server);
      await signInThroughProvider(page, server, 'eve');
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe('Single sign-on refused: your email domain is not allowed on this server.');
      expect(new URL(page.url()).search).toBe(''); // the error's code is taken out of the address bar
      expect(await sessionOf(page)).toBe(401);
      const { body } = await server.api('GET', '/users');
      expect(body.items.map((user: { username: string }) => user.username)).not.toContain('eve@example.org');
      expect((await audit(server, 'sso.refused'))[0]).toMatchObject({
        actor: 'anonymous',
        detail: { reason: 'domain', subject: 'eve' },
      });
    });

    it('never takes over a local user who has the same name', async () => {
      const created = await server.api('POST', '/users', {
        username: 'bob@example.com',
        password: 'bobs own password',
        scope: 'read',
      });
      expect(created.status).toBe(201);
      provider.accounts.set('bob', { email: 'bob@example.com', groups: ['overair-admins'] });
      const page = await newPage(server);
      await signInThroughProvider(page, server, 'bob');
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('A local user already has');
      expect(await sessionOf(page)).toBe(401);
      const { body } = await server.api('GET', '/users');
      expect(
        body.items.find((user: { username: string }) => user.username === 'bob@example.com'),
      ).toMatchObject({
        roles: { server_admin: false, all: 'read' },
      });
    });

    it.each([
      ['an ID token issued for another client (wrong audience)', 'wrong-audience', /"aud"/],
      ['an expired ID token', 'expired', /"exp"/],
    ] as const)('refuses %s', async (_what, misbehave, check) => {
      provider.accounts.set('carol', { email: 'carol@example.com', groups: ['mobile-devs'] });
      provider.misbehave = misbehave;
      try {
        const page = await newPage(server);
        await signInThroughProvider(page, server, 'carol');
        await expect.poll(() => page.getByRole('alert').textContent()).toContain('Single sign-on failed');
        expect(await sessionOf(page)).toBe(401);
      } finally {
        provider.misbehave = 'no';
      }
      const [refusal] = await audit(server, 'sso.refused');
      expect(refusal?.detail).toMatchObject({ reason: 'check' });
      expect(String(refusal?.detail?.detail)).toMatch(check);
    });

    it('refuses a callback whose state is not the one its browser started with', async () => {
      provider.accounts.set('dave', { email: 'dave@example.com', groups: ['mobile-devs'] });
      // The provider sends the browser back with its code but another state, as a forged link would.
      provider.misbehave = 'wrong-state';
      try {
        const page = await newPage(server);
        await signInThroughProvider(page, server, 'dave');
        await expect.poll(() => page.getByRole('alert').textContent()).toContain('Single sign-on failed');
        expect(await sessionOf(page)).toBe(401);
      } finally {
        provider.misbehave = 'no';
      }
      expect(String((await audit(server, 'sso.refused'))[0]?.detail?.detail)).toMatch(/"state"/);
      // A callback without the flow cookie at all (another browser's link) goes nowhere either.
      const bare = await fetch(`${server.url}${CALLBACK}?code=x&state=${'A'.repeat(43)}`, {
        redirect: 'manual',
      });
      expect(bare.status).toBe(302);
      expect(bare.headers.get('location')).toBe('/?sso_error=sso_failed');
      expect(bare.headers.get('set-cookie') ?? '').not.toContain('overair_session=');
      expect((await audit(server, 'sso.refused'))[0]?.detail).toMatchObject({ reason: 'no_flow' });

      // Failed callbacks count as failed logins (10 per address by default): soon the address is
      // refused, by the callback and by the password sign-in alike.
      let attempts = 0;
      let location = '';
      while (!location.includes('too_many_failed_logins') && attempts < 12) {
        attempts += 1;
        const again = await fetch(`${server.url}${CALLBACK}?code=x&state=y`, { redirect: 'manual' });
        location = again.headers.get('location') ?? '';
      }
      expect(location).toBe('/?sso_error=too_many_failed_logins');
      expect(attempts).toBeLessThanOrEqual(10);
      const locked = await sendJson(
        `${server.url}/api/v1/session`,
        'POST',
        { username: 'admin', password: 'correct horse battery staple' },
        {},
      );
      expect(locked.status).toBe(429);
    });

    it('with password sign-in off: no password form, passwords refused, tokens and SSO work', async () => {
      const page = await newPage(strict);
      await page.goto('/');
      await expect
        .poll(() => page.getByRole('link', { name: `Sign in with ${PROVIDER_NAME}` }).isVisible())
        .toBe(true);
      expect(await page.getByLabel('User name').count()).toBe(0);
      await fs.mkdir(path.join(ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'test-artifacts', 'sso-sign-in.png') });
      expect(await page.getByRole('tab', { name: 'User name' }).count()).toBe(0);

      const password = await sendJson(
        `${strict.url}/api/v1/session`,
        'POST',
        { username: 'admin', password: 'correct horse battery staple' },
        {},
      );
      expect(password.status).toBe(403);
      expect(password.body.error).toBe('password_sign_in_disabled');
      const token = await sendJson(`${strict.url}/api/v1/session`, 'POST', { token: ADMIN_TOKEN }, {});
      expect(token.status).toBe(200);
      expect((await strict.api('GET', '/whoami')).status).toBe(200);

      // Only members of `staff`; the user name is the preferred_username claim here.
      provider.accounts.set('frank', {
        email: 'frank@elsewhere.net',
        preferred_username: 'frank',
        groups: ['mobile-devs'],
      });
      await signInThroughProvider(page, strict, 'frank');
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe('Single sign-on refused: you are in none of the groups allowed on this server.');
      await page.screenshot({ path: path.join(ROOT, 'test-artifacts', 'sso-refused.png') });
      provider.accounts.set('frank', {
        email: 'frank@elsewhere.net',
        preferred_username: 'frank',
        groups: ['staff', 'mobile-devs'],
      });
      const member = await newPage(strict);
      await signInThroughProvider(member, strict, 'frank');
      await expect.poll(() => member.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
      expect(await sessionOf(member)).toEqual({
        name: 'frank',
        roles: { server_admin: false, all: 'publish', apps: {} },
        kind: 'user',
      });
    });
  },
);
