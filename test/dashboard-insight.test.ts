import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, type SimDevice } from './helpers/fleet.js';
import { buildDashboard } from './helpers/dashboard-build.js';
import { startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import { makeZip } from './helpers/zips.js';
import { moveDeviceWrites } from './helpers/release-devices.js';

/**
 * Release insight in a real browser (Debian's Chromium, playwright-core), from a simulated fleet
 * whose week is written into the past (never slept through): the channel page's adoption chart
 * (uPlot, loaded only when a chart is shown) and its numbers, the health card with its intervals, at
 * desktop and phone sizes. Screenshots go to test-artifacts/; docs/adoption.png and docs/health.png
 * (the guide's pictures) are made when missing, remade with UPDATE_SCREENSHOTS=1.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = path.resolve(import.meta.dirname, '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const APP = 'com.example.insight';
const ADMIN = { user: 'admin', password: 'correct horse battery staple' };
const SIZES = {
  desktop: { viewport: { width: 1280, height: 900 } },
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
} as const;
type Size = keyof typeof SIZES;
const DAY = 86_400_000;
const CHANNEL = `/apps/${APP}/channels/production`;

const available = existsSync(CHROMIUM);
if (!available && !process.env.CI) {
  console.warn(`dashboard-insight.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
}

describe.skipIf(!available && !process.env.CI)('release insight in the dashboard', () => {
  let webDir: string;
  let server: TestServer;
  let browser: Browser;
  let fleet: Fleet;
  const problems: string[] = [];
  /** Midnight UTC, six days ago: the first day of the simulated week. */
  const day0 = Math.floor(Date.now() / DAY) * DAY - 6 * DAY;
  const at = (day: number, hours = 9) => new Date(day0 + day * DAY + hours * 3_600_000).toISOString();

  /** Moves what the devices wrote since `realSince` (events, first sightings) to `when`. */
  const moveTo = async (realSince: string, when: string) => {
    await moveDeviceWrites(server, APP, realSince, when);
    await runSql(
      server,
      'UPDATE channel_history SET at = ? WHERE app_id = ? AND at >= ?',
      when,
      APP,
      realSince,
    );
  };
  /** One simulated day: `work` runs now, and is then written into that day. */
  const onDay = async (day: number, work: () => Promise<unknown>) => {
    const real = new Date().toISOString();
    await work();
    await moveTo(real, at(day));
  };
  const devices = (from: number, to: number) => fleet.devices.slice(from, to);
  const cycle = async (
    list: SimDevice[],
    fails: (device: SimDevice, offered: string) => boolean = () => false,
  ) => {
    const results = await fleet.check(list);
    const offered = new Map(results.map((r) => [r.device.id, r.offered ?? '']));
    await fleet.apply(results, (device) =>
      fails(device, offered.get(device.id)!) ? 'install_fail' : 'install',
    );
  };

  beforeAll(async () => {
    webDir = await buildDashboard();
    await fs.mkdir(ARTIFACTS, { recursive: true });
    server = await startTestServer(
      { OVERAIR_ADMIN_USER: ADMIN.user, OVERAIR_ADMIN_PASSWORD: ADMIN.password },
      { dashboardDir: webDir },
    );

    // The fleet's week: 1.0.0 live, 1.1.0 live on day 2, 1.2.0 rolled out to 30% on day 5, which
    // one device in four fails to start; new devices keep arriving (they install the live bundle).
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) {
      const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
      expect((await uploadBundle(server, APP, zip, { version })).status).toBe(201);
    }
    expect(
      (await server.api('PATCH', CHANNEL, { halt_on_evidence: false, evidence_min_devices: 30 })).status,
    ).toBe(200);
    fleet = new Fleet(server.url, APP, 480, () => ({ version: '0.9.0' }));
    await onDay(0, async () => {
      await server.api('PUT', `${CHANNEL}/bundle`, { version: '1.0.0' });
      await cycle(devices(0, 200));
    });
    await onDay(1, () => cycle(devices(200, 260)));
    await onDay(2, async () => {
      await server.api('PUT', `${CHANNEL}/bundle`, { version: '1.1.0' });
      await cycle(devices(0, 130));
    });
    await onDay(3, () => cycle(devices(130, 230)));
    await onDay(4, () => cycle(devices(260, 340)));
    // Devices 230-259 stay on 1.0.0: they do not check again this week.
    await onDay(5, async () => {
      await server.api('POST', `${CHANNEL}/rollout`, { version: '1.2.0', percent: 30 });
      await cycle(
        [...devices(0, 130), ...devices(260, 480)],
        (device, offered) => offered === '1.2.0' && Number(device.id.slice(-5)) % 4 === 0,
      );
      // The devices that rolled back launch again, and say they run 1.1.0 (a check writes no event).
      await fleet.check([...devices(0, 130), ...devices(260, 480)]);
    });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    fleet?.close();
    await browser?.close();
    await server?.stop();
    if (webDir) await fs.rm(webDir, { recursive: true, force: true });
  });

  const open = async (size: Size): Promise<Page> => {
    const context = await browser.newContext({ ...SIZES[size], baseURL: server.url });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => problems.push(`${size}: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        problems.push(`${size}: ${message.text()}`);
    });
    await page.goto('/');
    await page.getByLabel('User name').fill(ADMIN.user);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { name: 'Apps' }).isVisible()).toBe(true);
    return page;
  };

  /** The whole channel page, as test/dashboard.test.ts leaves every page. */
  const shoot = (page: Page, size: Size) =>
    page.screenshot({ path: path.join(ARTIFACTS, `channel-insight-${size}.png`), fullPage: true });

  it('keeps the chart library out of the first load', async () => {
    const index = await fs.readFile(path.join(webDir, 'index.html'), 'utf8');
    const entry = /<script type="module"[^>]*src="\/([^"]+)"/.exec(index)![1]!;
    const main = await fs.readFile(path.join(webDir, entry), 'utf8');
    // uPlot's own class names: in a chunk of their own, fetched with the first chart.
    expect(main).not.toContain('u-legend');
    const chunks = await fs.readdir(path.join(webDir, path.dirname(entry)));
    const withUplot = [];
    for (const chunk of chunks.filter((name) => name.endsWith('.js')))
      if ((await fs.readFile(path.join(webDir, path.dirname(entry), chunk), 'utf8')).includes('u-legend'))
        withUplot.push(chunk);
    expect(withUplot).toHaveLength(1);
  });

  it('turns the evidence rule on from the channel rules', async () => {
    const page = await open('desktop');
    await page.goto(`/apps/${APP}/channels/production`);
    await page
      .getByLabel('Halt a rollout that fails more than its control group (95% intervals apart)')
      .check();
    await page.getByLabel('Devices per group before judging').fill('50');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Saved.' }).isVisible()).toBe(true);
    expect((await server.api('GET', CHANNEL)).body).toMatchObject({
      halt_on_evidence: true,
      evidence_min_devices: 50,
    });
    await server.api('PATCH', CHANNEL, { halt_on_evidence: false, evidence_min_devices: 30 });
    await page.context().close();
  });

  for (const size of ['desktop', 'phone'] as const) {
    it(`shows adoption and health on the channel page (${size})`, async () => {
      const page = await open(size);
      const requested: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      await page.goto(`/apps/${APP}/channels/production`);

      const adoption = page.getByTestId('adoption');
      await adoption.waitFor();
      // uPlot drew on a canvas at the card's width, with a legend naming every version.
      await adoption.locator('.uplot canvas').waitFor();
      const api = (await server.api('GET', `${CHANNEL}/adoption?bucket=day&since=7d`)).body;
      // New devices that failed to start 1.2.0 went back to the bundle built into the app.
      expect(api.versions).toEqual(['1.2.0', '1.1.0', '1.0.0', '0.9.0']);
      for (const version of api.versions)
        expect(await adoption.locator('.u-legend').textContent()).toContain(version);
      // The week, per day; the numbers, as a table: today's row says what the API says.
      await page.getByLabel('Period').selectOption('7d');
      await adoption.locator('.uplot canvas').waitFor();
      await adoption.getByText('Numbers').click();
      const today = api.points.at(-1);
      const firstRow = adoption.locator('.insight-table tbody tr').first();
      for (const version of api.versions)
        expect(await firstRow.textContent()).toContain(String(today.devices[version] ?? 0));
      expect(today.devices['1.0.0']).toBe(30);
      // The week as it happened: 260 devices on 1.0.0 at the end of day 1, 130 of them moved on day 2.
      const day = (n: number) => api.points.find((point: { at: string }) => point.at === at(n, 0));
      expect(day(1).devices).toEqual({ '1.0.0': 260 });
      expect(day(2).devices).toEqual({ '1.0.0': 130, '1.1.0': 130 });
      expect(Object.values(today.devices as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(480);
      await expect
        .poll(() => page.getByTestId('release-installs').textContent())
        .toMatch(/devices installed 1\.2\.0/);

      const health = page.getByTestId('health');
      await health.waitFor();
      const report = (await server.api('GET', `${CHANNEL}/health`)).body;
      expect(report).toMatchObject({ healthy: false, verdict: 'worse', release: { version: '1.2.0' } });
      expect(await health.textContent()).toContain('unhealthy');
      expect(await health.locator('svg circle').count()).toBe(3);
      expect(await health.locator('tbody tr').count()).toBe(3);

      // Nothing wider than the screen, and uPlot was fetched only now, for the chart.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      expect(requested.some((url) => /adoption-chart/.test(url))).toBe(true);

      // The sticky top bar would cover the cards' titles in pictures of them alone.
      await page.evaluate(() =>
        document.querySelector<HTMLElement>('.topbar')?.style.setProperty('position', 'static'),
      );
      await adoption.locator('xpath=..').screenshot({ path: path.join(ARTIFACTS, `adoption-${size}.png`) });
      await health.locator('xpath=..').screenshot({ path: path.join(ARTIFACTS, `health-${size}.png`) });
      if (size === 'desktop')
        for (const name of ['adoption', 'health']) {
          const picture = path.join(ROOT, `docs/${name}.png`);
          if (process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(picture))
            await fs.copyFile(path.join(ARTIFACTS, `${name}-desktop.png`), picture);
        }
      // Per hour, the chart redraws with the last 48 hours.
      await page.getByLabel('Period').selectOption('48h');
      await expect.poll(() => adoption.locator('.insight-table thead th').first().textContent()).toBe('Hour');
      await shoot(page, size);
      await page.context().close();
      expect(problems).toEqual([]);
    });
  }
});
