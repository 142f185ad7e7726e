import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from './helpers/dashboard-build.js';
import { Fleet } from './helpers/fleet.js';
import {
  ADMIN_TOKEN,
  deviceInfo,
  startTestServer,
  uploadBundle,
  VECTORS,
  type TestServer,
} from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
 * server: sign in, create an app, upload bundles by the file input and by drag and drop, release,
 * see simulated devices in the chart, roll out, roll back, devices, a device held back from the version
 * it failed (and clearing the hold), plugin versions, tokens, users, audit, sign out.
 * Screenshots of every page at desktop and phone sizes go to test-artifacts/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const APP = 'com.example.dashboard';
const ADMIN = { user: 'admin', password: 'correct horse battery staple' };
const SIZES = {
  desktop: { viewport: { width: 1280, height: 860 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
} as const;
type Size = keyof typeof SIZES;

// CI installs Chromium (.ci/run); elsewhere, without it, say so and skip rather than fail.
const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(`dashboard.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

describe.skipIf(!available && !process.env.CI)('the dashboard in a browser', () => {
  let webDir: string;
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  /** Problems the pages reported: uncaught errors, CSP refusals. */
  const problems: string[] = [];

  const open = async (size: Size): Promise<Page> => {
    const context = await browser.newContext({ ...SIZES[size], baseURL: server.url });
    contexts.push(context);
    const page = await context.newPage();
    // Playwright waits forever by default: fail with its own message instead of the test's timeout.
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => problems.push(`${size}: ${error.message}`));
    page.on('console', (message) => {
      // A refused request (the 401 of "am I signed in?") is logged too: that one is expected.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(`${size}: ${message.text()}`);
      }
    });
    return page;
  };

  /** Saves test-artifacts/NAME-SIZE.png, once the page has settled; checks that nothing overflows sideways. */
  const shoot = async (page: Page, name: string, size: Size) => {
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${size}.png`), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${name} at ${size} size is wider than the screen`).toBeLessThanOrEqual(0);
  };

  const signIn = async (page: Page) => {
    await page.goto('/');
    await page.getByLabel('User name').fill(ADMIN.user);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
  };

  beforeAll(async () => {
    webDir = await buildDashboard();
    await fs.mkdir(ARTIFACTS, { recursive: true });
    for (const name of await fs.readdir(ARTIFACTS)) {
      if (name.startsWith('failed-')) await fs.rm(path.join(ARTIFACTS, name));
    }
    server = await startTestServer(
      { OVERAIR_ADMIN_USER: ADMIN.user, OVERAIR_ADMIN_PASSWORD: ADMIN.password },
      { dashboardDir: webDir },
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
    if (webDir) await fs.rm(webDir, { recursive: true, force: true });
  });

  let page: Page;

  // What the browser showed when a step failed.
  afterEach(async (context) => {
    if (context.task.result?.state === 'fail' && page) {
      const name = context.task.name.replace(/\W+/g, '-').slice(0, 60);
      await page
        .screenshot({ path: path.join(ARTIFACTS, `failed-${name}.png`), fullPage: true })
        .catch(() => {});
    }
  });

  it('refuses a wrong password with a readable message, then signs in', async () => {
    page = await open('desktop');
    await page.goto('/');
    await page.getByLabel('User name').fill(ADMIN.user);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong user name or password');
    await shoot(page, 'sign-in', 'desktop');

    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
    const cookies = await page.context().cookies();
    const session = cookies.find((cookie) => cookie.name === 'overair_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  });

  it('creates an app', async () => {
    await page.getByRole('button', { name: 'New app' }).click();
    await page.getByLabel('App id').fill(APP);
    await page.getByLabel('Name', { exact: true }).fill('Dashboard Demo');
    await page.getByRole('button', { name: 'Create app' }).click();
    await page.waitForURL(`**/apps/${APP}`);
    await expect.poll(() => page.getByRole('link', { name: 'production' }).isVisible()).toBe(true);
  });

  it('uploads a bundle by the file input, with a progress bar, and makes it live', async () => {
    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Bundles' }).click();
    await page.waitForURL(`**/apps/${APP}/bundles`);
    await page.locator('input[type=file]').setInputFiles(path.join(VECTORS, 'bundle.zip'));
    await page.getByLabel('Version', { exact: true }).fill('1.1.0');
    // A slow uplink, so that the progress bar is seen moving.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 1500,
    });
    // Every value the progress bar shows, as the page draws it.
    await page.evaluate(() => {
      const seen: number[] = ((window as any).progressSeen = []);
      new MutationObserver(() => {
        const bar = document.querySelector('[role=progressbar]');
        if (bar) seen.push(Number(bar.getAttribute('aria-valuenow')));
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const bar = page.getByRole('progressbar', { name: 'Upload progress' });
    await bar.waitFor();
    await shoot(page, 'bundles-uploading', 'desktop');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    await expect
      .poll(() => page.getByRole('status').first().textContent(), { timeout: 15_000 })
      .toContain('Uploaded 1.1.0');
    expect(await page.evaluate(() => Math.max(...(window as any).progressSeen))).toBe(100);
    await page.getByRole('button', { name: 'Make live' }).click();
    await expect.poll(() => page.getByText('Live on production.').isVisible()).toBe(true);
    const { body } = await server.api('GET', `/apps/${APP}/channels/production`);
    expect(body.version).toBe('1.1.0');
  });

  it('refuses a second upload of the same version with the API message', async () => {
    await page.locator('input[type=file]').setInputFiles(path.join(VECTORS, 'bundle.zip'));
    await page.getByLabel('Version', { exact: true }).fill('1.1.0');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/already has a bundle "1\.1\.0"/);
  });

  it('uploads a bundle dropped on the drop zone, taking the version from the file name', async () => {
    const zip = (await fs.readFile(path.join(VECTORS, 'bundle.zip'))).toString('base64');
    await page.getByLabel('Version', { exact: true }).fill('');
    const dataTransfer = await page.evaluateHandle((base64) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      transfer.items.add(new File([bytes], 'web-1.2.0.zip', { type: 'application/zip' }));
      return transfer;
    }, zip);
    await page.dispatchEvent('[data-testid=dropzone]', 'drop', { dataTransfer });
    expect(await page.getByLabel('Version', { exact: true }).inputValue()).toBe('1.2.0');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Uploaded 1.2.0');
    await expect.poll(() => page.getByRole('link', { name: '1.2.0' }).count()).toBeGreaterThan(0);
    const { body } = await server.api('GET', `/apps/${APP}/bundles/1.2.0`);
    expect(body.sha256).toBe((await server.api('GET', `/apps/${APP}/bundles/1.1.0`)).body.sha256);
    await shoot(page, 'bundles', 'desktop');
  });

  it('shows devices that checked in, per version, and the failure rate per release', async () => {
    // Five phones on their built-in bundle check in, get 1.1.0, and one fails to start it.
    const fleet = new Fleet(server.url, APP, 5, () => ({ version: 'builtin' }));
    try {
      await fleet.cycle((device) => (device.id.endsWith('4') ? 'install_fail' : 'install'));
    } finally {
      fleet.close();
    }
    // And one with a custom id, for the search below.
    const checked = await server.device(
      'POST',
      '/updates',
      deviceInfo({
        app_id: APP,
        device_id: 'phone-of-alice',
        custom_id: 'alice@example.com',
        version_name: 'builtin',
      }),
    );
    expect(checked.status).toBe(200);

    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Overview' }).click();
    const chart = page.getByRole('img', { name: 'Devices per version' });
    await chart.waitFor();
    // The bars say what the statistics API says.
    const { body: stats } = await server.api('GET', `/apps/${APP}/stats`);
    const running = stats.versions.filter((version: any) => version.devices > 0);
    expect(running.map((version: any) => version.version).sort()).toEqual(['1.1.0', 'builtin']);
    for (const { version, devices } of running) {
      const value = chart.locator(`g[data-version="${version}"] text`).last();
      await expect.poll(() => value.textContent()).toBe(String(devices));
    }
    const row = page.getByRole('row').filter({ hasText: '1.1.0' }).last();
    expect(await row.textContent()).toContain('20%');
  });

  it('rolls out with the slider, then rolls back after a confirmation', async () => {
    await page.getByRole('link', { name: 'production' }).first().click();
    await page.waitForURL(`**/apps/${APP}/channels/production`);
    await page.getByLabel('Bundle', { exact: true }).selectOption('1.2.0');
    await page.getByRole('slider').fill('30');
    await page.getByRole('button', { name: 'Roll out to 30%' }).click();
    await expect.poll(() => page.getByTestId('rollout').textContent()).toContain('1.2.0 to 30%');
    expect((await server.api('GET', `/apps/${APP}/channels/production`)).body.rollout).toEqual({
      version: '1.2.0',
      percent: 30,
    });
    // Twenty more phones check in: about 30% of them get 1.2.0, the others 1.1.0.
    const fleet = new Fleet(server.url, APP, 20, (index) => ({ id: `phone-${index}`, version: 'builtin' }));
    try {
      const results = await fleet.cycle();
      expect(new Set(results.map((result) => result.offered))).toEqual(new Set(['1.1.0', '1.2.0']));
    } finally {
      fleet.close();
    }
    await shoot(page, 'channel', 'desktop');

    await page.getByRole('button', { name: 'Roll back' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/Reason/).fill('checkout button broken');
    await shoot(page, 'channel-rollback-confirm', 'desktop');
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => page.getByTestId('rollout').textContent()).toContain('none in progress');
    await expect.poll(() => page.getByText('checkout button broken').isVisible()).toBe(true);
    expect((await server.api('GET', `/apps/${APP}/channels/production`)).body).toMatchObject({
      version: '1.1.0',
      rollout: null,
    });

    // Nothing left to roll back to: the API's reason is shown in the dialog.
    await page.getByRole('button', { name: 'Roll back' }).click();
    await dialog.getByRole('button', { name: 'Roll back' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toContain('no earlier bundle');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it('shows the release on the overview', async () => {
    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Overview' }).click();
    const chart = page.getByRole('img', { name: 'Devices per version' });
    await chart.locator('g[data-version="1.2.0"]').waitFor();
    await expect.poll(() => page.getByText('checkout button broken').isVisible()).toBe(true);
    await shoot(page, 'overview', 'desktop');
    // The README's picture: made when missing, remade on demand (UPDATE_SCREENSHOTS=1 npm test).
    const picture = path.join(ROOT, 'docs/dashboard-overview.png');
    if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(picture)) {
      await fs.copyFile(path.join(ARTIFACTS, 'overview-desktop.png'), picture);
    }
    await page.getByRole('link', { name: 'production' }).first().click();
    await page.waitForURL(`**/apps/${APP}/channels/production`);
  });

  it('starts a scheduled rollout, shows its steps and next time, and cancels it', async () => {
    await page.getByLabel('Bundle to schedule').selectOption('1.2.0');
    await page.getByLabel(/^Steps/).fill('5%:2h,100%');
    await page.getByRole('button', { name: 'Start schedule' }).click();
    await expect.poll(() => page.getByTestId('schedule').textContent()).toContain('step 1 of 2 (5%)');
    const { body: schedule } = await server.api('GET', `/apps/${APP}/channels/production/schedule`);
    expect(schedule).toMatchObject({ version: '1.2.0', state: 'running', steps: '5%:2h,100%' });
    expect(await page.getByTestId('next-step').textContent()).toContain('Next step at');
    await expect.poll(() => page.getByTestId('rollout').textContent()).toContain('1.2.0 to 5%');
    await shoot(page, 'channel-schedule', 'desktop');

    await page.getByRole('button', { name: 'Cancel schedule' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Cancel schedule' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => page.getByTestId('schedule').textContent()).toContain('cancelled');
    expect((await server.api('GET', `/apps/${APP}/channels/production/schedule`)).body.state).toBe(
      'cancelled',
    );
    // Back to 1.1.0 for every device, as before, for the tests that follow.
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.1.0' });
    await page.reload();
  });

  it('saves channel rules', async () => {
    await page.getByLabel('Serve emulators').check();
    await page.getByLabel('Failure threshold (%)').fill('25');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => page.getByText('Saved.').isVisible()).toBe(true);
    expect((await server.api('GET', `/apps/${APP}/channels/production`)).body).toMatchObject({
      allow_emulator: true,
      failure_threshold: 0.25,
    });
  });

  it('shows, before a release, the binaries a bundle would be refused to, and the rule for unregistered ones', async () => {
    const layer = (packages: { name: string; version: string; platforms: string[] }[]) => ({
      capacitor: { core: '6.1.0', android: '6.1.0', ios: '6.1.0' },
      packages,
    });
    const camera = { name: '@capacitor/camera', version: '6.0.0', platforms: ['android', 'ios'] };
    const upload = await uploadBundle(server, APP, await makeZip({ 'index.html': '<html></html>' }), {
      version: '1.3.0',
      native_layer: JSON.stringify(layer([camera])),
    });
    expect(upload.status).toBe(201);
    // The phones of the tests above run android 1.0.0: registered without the camera plugin.
    const registered = await server.api('POST', `/apps/${APP}/binaries`, {
      platform: 'android',
      version: '1.0.0',
      native_layer: layer([]),
    });
    expect(registered.status).toBe(201);
    await page.reload();
    await page.getByLabel('Bundle', { exact: true }).selectOption('1.3.0');
    const report = page.getByTestId('compatibility');
    await expect
      .poll(() => report.textContent())
      .toContain('@capacitor/camera 6.0.0 (missing from the binary)');
    expect(await report.getByRole('row').filter({ hasText: 'android 1.0.0' }).textContent()).toContain(
      'refused',
    );
    expect(await report.getByRole('status').textContent()).toMatch(
      /1\.3\.0 would reach \d+ and be refused to \d+/,
    );

    await page.getByLabel('Binaries nobody registered').selectOption('refuse');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => page.getByText('Saved.').isVisible()).toBe(true);
    expect((await server.api('GET', `/apps/${APP}/channels/production`)).body.unregistered_binaries).toBe(
      'refuse',
    );
    // Left as the later tests expect it.
    await server.api('PATCH', `/apps/${APP}/channels/production`, { unregistered_binaries: 'serve' });
    await server.api('DELETE', `/apps/${APP}/binaries/android/1.0.0`);
  });

  it('protects a channel, and approves and rejects release requests (four-eyes releases)', async () => {
    const publisher = await server.api('POST', '/tokens', { name: 'ci', scope: 'publish' });
    expect(publisher.status).toBe(201);
    // A channel of its own: production stays as the later tests expect it.
    const staging = `/apps/${APP}/channels/staging`;
    expect(
      (await server.api('POST', `/apps/${APP}/channels`, { name: 'staging', version: '1.1.0' })).status,
    ).toBe(201);
    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expect
      .poll(() => page.getByTestId('release-approval').textContent())
      .toContain('becomes a request that someone else approves');
    expect((await server.api('GET', `/apps/${APP}`)).body.release_approval).toBe(true);

    await page.goto(staging);
    await page.getByLabel(/^Protected/).check();
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => page.getByText('Saved.').isVisible()).toBe(true);
    expect((await server.api('GET', staging)).body.protected).toBe(true);

    // A pipeline's release waits for someone with the release role.
    const asked = await server.api('PUT', `${staging}/bundle`, { version: '1.2.0' }, publisher.body.token);
    expect(asked.status).toBe(202);
    await page.reload();
    const requests = page.getByTestId('release-requests');
    await expect.poll(() => requests.textContent()).toContain('make 1.2.0 live');
    await shoot(page, 'channel-release-request', 'desktop');
    await requests.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.getByTestId('live-version').textContent()).toContain('1.2.0');
    expect((await server.api('GET', `/apps/${APP}/release-requests/${asked.body.id}`)).body.status).toBe(
      'approved',
    );

    const second = await server.api(
      'POST',
      `${staging}/rollout`,
      { version: '1.3.0', percent: 10 },
      publisher.body.token,
    );
    expect(second.status).toBe(202);
    await page.reload();
    await expect.poll(() => requests.textContent()).toContain('roll out 1.3.0 to 10%');
    await requests.getByRole('button', { name: 'Reject' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/Reason/).fill('after the holidays');
    await dialog.getByRole('button', { name: 'Reject' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => requests.textContent()).not.toContain('1.3.0');
    expect((await server.api('GET', `/apps/${APP}/release-requests/${second.body.id}`)).body).toMatchObject({
      status: 'rejected',
      reason: 'after the holidays',
    });
    expect((await server.api('GET', staging)).body).toMatchObject({ version: '1.2.0', rollout: null });
    // Rolling back a protected channel needs no one's approval.
    const back = await server.api('POST', `${staging}/rollback`, {}, publisher.body.token);
    expect(back).toMatchObject({ status: 200, body: { version: '1.1.0' } });
  });

  it('finds a device by its custom id and pins it to a channel', async () => {
    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Devices' }).click();
    await page.waitForURL(`**/apps/${APP}/devices`);
    await expect.poll(() => page.locator('table.devices tbody tr').count()).toBe(26);
    await shoot(page, 'devices', 'desktop');
    await page.getByLabel('Search devices').fill('alice');
    await expect.poll(() => page.locator('table.devices tbody tr').count()).toBe(1);
    await page.getByRole('button', { name: 'Device phone-of-alice' }).click();
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await expect.poll(() => page.getByText('pinned').isVisible()).toBe(true);
    expect((await server.api('GET', `/apps/${APP}/devices/phone-of-alice`)).body.channel_override).toBe(
      'production',
    );
    await page.getByRole('button', { name: /Remove pin/ }).click();
    await expect.poll(() => page.getByText('pinned').count()).toBe(0);
    await page.getByLabel('Search devices').fill(`${APP}-device-0000`);
    await expect.poll(() => page.locator('table.devices tbody tr').count()).toBe(5);
  });

  it('shows a device held back from the version it failed, and clears the hold', async () => {
    // Bob's phone, on an older plugin, gets 1.1.0, fails to start it and rolls it back (as the plugin
    // reports it: update_fail, then app_launch_timeout; protocol-capgo.md §8.3).
    const bob = deviceInfo({
      app_id: APP,
      device_id: 'phone-of-bob',
      version_name: 'builtin',
      plugin_version: '8.40.2',
    });
    expect((await server.device('POST', '/updates', bob)).body.version).toBe('1.1.0');
    const failed = await server.device(
      'POST',
      '/stats',
      ['update_fail', 'app_launch_timeout'].map((action) => ({
        ...bob,
        action,
        version_name: '1.1.0',
        old_version_name: 'builtin',
      })),
    );
    expect(failed.status).toBe(200);
    await server.services.activity.flush();
    const holds = async () =>
      (await server.api('GET', `/apps/${APP}/holds`)).body.items.map(
        (hold: any) => `${hold.device_id}@${hold.version}`,
      );
    expect(await holds()).toContain('phone-of-bob@1.1.0');

    await page.getByLabel('Search devices').fill('');
    await page.reload();
    const row = page.locator('.holds-card tr[data-device="phone-of-bob"]');
    await expect.poll(() => row.textContent()).toMatch(/1\.1\.0.*did not start in time.*2 install failures/);
    // The fleet's phone that failed to start 1.1.0 earlier is held back too.
    await expect.poll(() => page.locator('.holds-card tbody tr').count()).toBe(2);
    await shoot(page, 'devices-held', 'desktop');

    // Its device's detail lists it too.
    await row.getByRole('button', { name: 'phone-of-bob', exact: true }).click();
    const detail = page.locator('.device-detail');
    await expect.poll(() => detail.locator('table.holds').textContent()).toContain('1.1.0');
    await expect.poll(() => detail.textContent()).toContain('8.40.2');
    await shoot(page, 'devices-held-detail', 'desktop');

    await row.getByRole('button', { name: 'Clear hold of 1.1.0 on phone-of-bob' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('will be offered 1.1.0 again');
    await dialog.getByRole('button', { name: 'Clear hold' }).click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => row.count()).toBe(0);
    await expect.poll(() => detail.textContent()).toContain('No version is held back from this device.');
    expect(await holds()).not.toContain('phone-of-bob@1.1.0');
    expect((await server.device('POST', '/updates', bob)).body.version).toBe('1.1.0');
  });

  it('watches a device live: its check appears with the answer and why, newest first', async () => {
    const detail = page.locator('.device-detail');
    await detail.getByRole('button', { name: 'Watch live' }).click();
    await expect.poll(() => detail.getByText('watching', { exact: true }).isVisible()).toBe(true);
    await expect.poll(() => server.services.live.watching(APP, 'phone-of-bob')).toBe(true);
    const bob = deviceInfo({
      app_id: APP,
      device_id: 'phone-of-bob',
      version_name: 'builtin',
      plugin_version: '8.40.2',
    });
    expect((await server.device('POST', '/updates', bob)).body.version).toBe('1.1.0');
    expect((await server.device('POST', '/updates', { ...bob, version_name: '1.1.0' })).status).toBe(200);
    const events = detail.locator('.live-events li');
    await expect.poll(() => events.count()).toBe(2);
    expect(await events.nth(0).textContent()).toMatch(/check.*runs 1\.1\.0.*→ up to date/);
    expect(await events.nth(1).textContent()).toMatch(/check.*runs builtin.*→ update 1\.1\.0/);
    expect(await events.nth(1).textContent()).toContain('serves 1.1.0');
    await shoot(page, 'device-live', 'desktop');
    await detail.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => server.services.live.streams).toBe(0);
  });

  it('shows the plugin versions in the field on the overview', async () => {
    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Overview' }).click();
    const chart = page.getByRole('img', { name: 'Devices per plugin version' });
    await chart.waitFor();
    const { body: stats } = await server.api('GET', `/apps/${APP}/stats`);
    expect(stats.plugin_versions).toEqual(
      expect.arrayContaining([
        { plugin_version: '8.51.23', devices: 26 },
        { plugin_version: '8.40.2', devices: 1 },
      ]),
    );
    for (const { plugin_version, devices } of stats.plugin_versions) {
      const value = chart.locator(`g[data-version="${plugin_version}"] text`).last();
      await expect.poll(() => value.textContent()).toBe(String(devices));
    }
    await shoot(page, 'overview-plugins', 'desktop');
  });

  it('creates a token, shows its secret once, and revokes it', async () => {
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByLabel('Name', { exact: true }).fill('ci-release');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByTestId('secret').textContent();
    expect(secret).toMatch(/^oat_/);
    const whoami = await server.api('GET', '/whoami', undefined, secret!);
    expect(whoami.body).toMatchObject({
      name: 'ci-release',
      roles: { server_admin: false, all: 'publish', apps: {} },
    });
    await shoot(page, 'tokens', 'desktop');
    await page
      .getByRole('row')
      .filter({ hasText: 'ci-release' })
      .getByRole('button', { name: 'Revoke' })
      .click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'ci-release' }).count()).toBe(0);
    expect((await server.api('GET', '/whoami', undefined, secret!)).status).toBe(401);
  });

  it('creates and deletes a user', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('a long enough password 123');
    await page.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'alice' }).count()).toBe(1);
    await shoot(page, 'users', 'desktop');
    await page.getByRole('row').filter({ hasText: 'alice' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete user' }).click();
    await expect.poll(() => page.getByRole('row').filter({ hasText: 'alice' }).count()).toBe(0);
  });

  it('shows the audit log', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await expect.poll(() => page.getByText('user.delete').first().isVisible()).toBe(true);
    // The rollback is older: a page of 100 entries (API requests included) may end before it.
    await expect
      .poll(async () => {
        if (await page.getByText('channel.rollback').isVisible()) return true;
        const more = page.getByRole('button', { name: 'Load more' });
        if (await more.isVisible()) await more.click();
        return false;
      })
      .toBe(true);
    await shoot(page, 'audit', 'desktop');
  });

  it('lists native builds per channel and platform, with download links', async () => {
    const apk = await makeZip({ 'AndroidManifest.xml': '<manifest/>', 'classes.dex': 'dex' });
    const upload = await fetch(
      `${server.url}/api/v1/apps/${APP}/native/upload?platform=android&version=1.4.0&channel=beta`,
      { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: new Uint8Array(apk) },
    );
    expect(upload.status).toBe(201);
    await page.goto(`/apps/${APP}`);
    await page.getByRole('navigation', { name: 'App' }).getByRole('link', { name: 'Native builds' }).click();
    const table = page.getByRole('table', { name: 'Native builds beta · android' });
    await expect.poll(() => table.getByRole('row').filter({ hasText: '1.4.0' }).count()).toBe(1);
    expect(await table.getByRole('link', { name: 'APK' }).getAttribute('href')).toContain(
      `name=${APP}-1.4.0.apk`,
    );
    expect(await page.getByRole('link', { name: 'Download latest' }).getAttribute('href')).toBe(
      `${server.url}/native/${APP}/beta/android/latest`,
    );
    await shoot(page, 'native', 'desktop');
  });

  it('shows a bundle, with its files for delta updates once they are ready', async () => {
    await server.services.bundleFiles.settle();
    await page.goto(`/apps/${APP}/bundles/1.1.0`);
    await expect.poll(() => page.getByRole('heading', { name: 'Bundle 1.1.0' }).isVisible()).toBe(true);
    expect(await page.getByTestId('delta-files').textContent()).toMatch(/^ready/);
    await shoot(page, 'bundle', 'desktop');
  });

  it('fits a phone screen', async () => {
    const phone = await open('phone');
    await phone.goto('/');
    await shoot(phone, 'sign-in', 'phone');
    await signIn(phone);
    const pages: [string, string][] = [
      ['apps', '/'],
      ['overview', `/apps/${APP}`],
      ['bundles', `/apps/${APP}/bundles`],
      ['bundle', `/apps/${APP}/bundles/1.1.0`],
      ['channel', `/apps/${APP}/channels/production`],
      ['devices', `/apps/${APP}/devices`],
      ['native', `/apps/${APP}/native`],
      ['tokens', '/tokens'],
      ['users', '/users'],
      ['audit', '/audit'],
    ];
    for (const [name, route] of pages) {
      await phone.goto(route);
      await shoot(phone, name, 'phone');
    }
    await page.goto('/');
    await shoot(page, 'apps', 'desktop');
  });

  it("hides what the signed-in user's roles do not allow on the app shown", async () => {
    const viewer = { username: 'viewer', password: 'viewer password 123' };
    const created = await server.api('POST', '/users', { ...viewer, roles: { apps: { [APP]: 'read' } } });
    expect(created.status).toBe(201);
    const own = await open('desktop');
    await own.goto('/');
    await own.getByLabel('User name').fill(viewer.username);
    await own.getByLabel('Password').fill(viewer.password);
    await own.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => own.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
    const nav = own.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Apps', 'Account']);
    await own.goto(`/apps/${APP}/bundles`);
    await expect.poll(() => own.getByRole('heading', { name: 'Bundles' }).first().isVisible()).toBe(true);
    expect(await own.getByRole('form', { name: 'Upload a bundle' }).count()).toBe(0);
    // Given publish on the app, the same session shows the upload at the next load.
    await server.api('PATCH', `/users/${viewer.username}`, { roles: { apps: { [APP]: 'publish' } } });
    await own.goto(`/apps/${APP}/bundles`);
    await expect.poll(() => own.getByRole('form', { name: 'Upload a bundle' }).count()).toBe(1);

    // A server admin adds a role on all apps to the one on APP, on the users page.
    await page.getByRole('link', { name: 'Users' }).click();
    await page
      .getByRole('row')
      .filter({ hasText: 'viewer' })
      .getByRole('button', { name: 'Change roles' })
      .click();
    const editor = page.getByRole('form', { name: 'Add a role to viewer' });
    await editor.getByLabel('Where').selectOption({ label: 'All apps' });
    await editor.getByLabel('Role').selectOption('read');
    await editor.getByRole('button', { name: 'Add' }).click();
    await editor.getByRole('button', { name: 'Save roles' }).click();
    await expect
      .poll(
        async () =>
          (await server.api('GET', '/users')).body.items.find((u: any) => u.username === 'viewer').roles,
      )
      .toEqual({ server_admin: false, all: 'read', apps: { [APP]: 'publish' } });
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect
      .poll(() => page.getByRole('button', { name: 'Sign in', exact: true }).isVisible())
      .toBe(true);
    expect(await page.getByRole('status').textContent()).toContain('signed out');
    const status = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
    expect(status).toBe(401);
    expect(problems).toEqual([]);
  });
});
