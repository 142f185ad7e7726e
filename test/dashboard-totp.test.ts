import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import { Secret, TOTP } from 'otpauth';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from './helpers/dashboard-build.js';
import { startTestServer, type TestServer } from './helpers/server.js';

/**
 * Two-factor sign-in in the dashboard, in Chromium (set up as in test/dashboard.test.ts), on a server
 * that requires it for admins: the admin's first session shows only the enrolment; the key read
 * from the page gives the code that turns it on and lifts the restriction; after signing out,
 * signing in asks for a code.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN = { user: 'admin', password: 'correct horse battery staple' };

const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(`dashboard-totp.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

const codeOf = (secret: string, steps = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + steps * 30_000 });

describe.skipIf(!available && !process.env.CI)('two-factor sign-in in the dashboard', () => {
  let webDir: string;
  let server: TestServer;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    webDir = await buildDashboard();
    server = await startTestServer(
      {
        OVERAIR_ADMIN_USER: ADMIN.user,
        OVERAIR_ADMIN_PASSWORD: ADMIN.password,
        OVERAIR_REQUIRE_TOTP_FOR_ADMINS: 'true',
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
    if (webDir) await fs.rm(webDir, { recursive: true, force: true });
  });

  it('enrols an admin who must, then signs in with a code', async () => {
    const context = await browser.newContext({ baseURL: server.url });
    const page: Page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(message.text());
      }
    });

    await page.goto('/');
    await page.getByLabel('User name').fill(ADMIN.user);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // Only the enrolment is shown: no Apps in the navigation.
    await expect.poll(() => page.getByRole('heading', { name: 'Your account' }).isVisible()).toBe(true);
    await expect.poll(() => page.getByText('requires two-factor sign-in for admins').isVisible()).toBe(true);
    expect(await page.getByRole('link', { name: 'Apps' }).count()).toBe(0);

    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await page.getByAltText('QR code of the authenticator key').getAttribute('src')).toMatch(
      /^data:image\/svg\+xml;base64,/,
    );
    await page.getByLabel('Code', { exact: true }).fill(codeOf(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expect.poll(() => page.getByTestId('recovery-codes').locator('li').count()).toBe(10);
    // The restriction is lifted in the same session.
    await expect.poll(() => page.getByRole('link', { name: 'Apps' }).isVisible()).toBe(true);
    await page.getByRole('link', { name: 'Apps' }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User name').fill(ADMIN.user);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // The code that turned it on cannot be used again: the next step's code is accepted.
    await page.getByLabel('Two-factor code').fill(codeOf(secret, 1));
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);

    // Account lists this session.
    await page.getByRole('link', { name: 'Account' }).click();
    await expect.poll(() => page.getByText('this one').count()).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    await context.close();
  });
});
