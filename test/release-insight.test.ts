/**
 * Release insight (issue #19): a simulated fleet checks and reports through the real device
 * endpoints; hours pass by moving what they wrote into the past (never by sleeping). The adoption
 * API answers the devices on each bundle per bucket and a release's installs since it went live;
 * the health API and the evidence rule compare a rollout's devices with the devices still on the
 * live bundle over the same hours, and halt a failing rollout, saying why, exactly once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { Fleet, type SimDevice } from './helpers/fleet.js';
import { ADMIN_TOKEN, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { runSql } from './helpers/sql.js';
import { waitFor } from './helpers/wait.js';
import { makeZip } from './helpers/zips.js';
import { moveDeviceWrites } from './helpers/release-devices.js';

let server: TestServer;

beforeAll(async () => {
  // The webhook receiver of the evidence halt listens on loopback.
  // Each flush judged on evidence at once (the 30 s between judgements is tested on its own below).
  server = await startTestServer({ OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' }, { evidenceIntervalMs: 0 });
});
afterAll(() => server.stop());

const HOUR = 3_600_000;
const channelRoute = (appId: string) => `/apps/${appId}/channels/production`;

/** An app with its default channel "production", the given bundles, and `live` live on it. */
async function setupApp(appId: string, versions: string[], live: string): Promise<void> {
  expect((await server.api('POST', '/apps', { id: appId })).status).toBe(201);
  for (const version of versions) {
    const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
    expect((await uploadBundle(server, appId, zip, { version })).status).toBe(201);
  }
  expect((await server.api('PUT', `${channelRoute(appId)}/bundle`, { version: live })).status).toBe(200);
}

/** Moves everything the app's devices wrote since `realSince` (events, first sightings) to `at`. */
const moveTo = (appId: string, realSince: string, at: Date) =>
  moveDeviceWrites(server, appId, realSince, at.toISOString());

describe('adoption over time, from a simulated fleet', () => {
  const APP = 'com.example.adoption';
  let fleet: Fleet;
  /** Four hours ago, on the hour: the first bucket. */
  const t0 = new Date(Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR);
  const hour = (n: number) => new Date(t0.getTime() + n * HOUR);
  const range = (from: number, to: number) => fleet.devices.slice(from, to);

  beforeAll(async () => {
    await setupApp(APP, ['1.0.0', '1.1.0'], '1.0.0');
    fleet = new Fleet(server.url, APP, 100);

    // Hour 0: 60 devices appear, on the live bundle 1.0.0.
    let real = new Date().toISOString();
    expect((await fleet.check(range(0, 60))).every((result) => result.body.kind === 'up_to_date')).toBe(true);
    await moveTo(APP, real, new Date(hour(0).getTime() + 5 * 60_000));

    // Hour 1: 1.1.0 goes live; half of them install it.
    real = new Date().toISOString();
    expect((await server.api('PUT', `${channelRoute(APP)}/bundle`, { version: '1.1.0' })).status).toBe(200);
    await fleet.apply(await fleet.check(range(0, 30)));
    await moveTo(APP, real, new Date(hour(1).getTime() + 5 * 60_000));
    await runSql(
      server,
      "UPDATE channel_history SET at = ? WHERE app_id = ? AND version = '1.1.0'",
      hour(1).toISOString(),
      APP,
    );

    // Hour 2: 40 new devices appear and install it at once.
    real = new Date().toISOString();
    await fleet.apply(await fleet.check(range(60, 100)));
    await moveTo(APP, real, new Date(hour(2).getTime() + 10 * 60_000));

    // Hour 3: the other 30 first ones try it; 10 fail to start it and roll back to 1.0.0.
    real = new Date().toISOString();
    const failing = new Set(range(30, 40).map((device) => device.id));
    await fleet.apply(await fleet.check(range(30, 60)), (device: SimDevice) =>
      failing.has(device.id) ? 'install_fail' : 'install',
    );
    await moveTo(APP, real, new Date(hour(3).getTime() + 15 * 60_000));
    // Now: the rolled-back devices check again, on 1.0.0 (a check writes no event).
    await fleet.check(range(30, 40));
    expect(fleet.running()).toEqual(
      new Map([
        ['1.1.0', 90],
        ['1.0.0', 10],
      ]),
    );
  });
  afterAll(() => fleet.close());

  it('answers the devices on each bundle at the end of each hour, and the release’s cumulative installs', async () => {
    const answer = await server.api(
      'GET',
      `${channelRoute(APP)}/adoption?bucket=hour&since=${t0.toISOString()}`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      app_id: APP,
      channel: 'production',
      bucket: 'hour',
      since: t0.toISOString(),
    });
    expect(answer.body.versions).toEqual(['1.1.0', '1.0.0']);
    expect(answer.body.points).toEqual([
      { at: hour(0).toISOString(), devices: { '1.0.0': 60 } },
      { at: hour(1).toISOString(), devices: { '1.0.0': 30, '1.1.0': 30 } },
      { at: hour(2).toISOString(), devices: { '1.0.0': 30, '1.1.0': 70 } },
      { at: hour(3).toISOString(), devices: { '1.0.0': 10, '1.1.0': 90 } },
      { at: hour(4).toISOString(), devices: { '1.0.0': 10, '1.1.0': 90 } },
    ]);
    // 1.1.0 went live at hour 1: devices that installed it (the 10 that rolled back did, too).
    expect(answer.body.release).toEqual({
      version: '1.1.0',
      since: hour(1).toISOString(),
      installs: 100,
      points: [0, 30, 70, 100, 100].map((installs, n) => ({ at: hour(n).toISOString(), installs })),
    });
  });

  it('answers per day, and for another release that was live', async () => {
    const daily = await server.api('GET', `${channelRoute(APP)}/adoption?since=2d&version=1.0.0`);
    expect(daily.status).toBe(200);
    expect(daily.body.bucket).toBe('day');
    expect(daily.body.points.at(-1).devices).toEqual({ '1.0.0': 10, '1.1.0': 90 });
    expect(daily.body.release).toMatchObject({ version: '1.0.0', installs: 0 });
  });

  it('refuses what it cannot answer', async () => {
    const refused = async (query: string, status: number, pattern: RegExp) => {
      const answer = await server.api('GET', `${channelRoute(APP)}/adoption?${query}`);
      expect(answer.status).toBe(status);
      expect(answer.body.message).toMatch(pattern);
    };
    await refused('bucket=week', 400, /bucket/);
    await refused('since=yesterday', 400, /since: expected an ISO date/);
    await refused('bucket=hour&since=60d', 400, /at most 31 days/);
    await refused('version=9.9.9', 400, /9\.9\.9 was never released on production/);
    expect((await server.api('GET', `/apps/${APP}/channels/nope/adoption`)).status).toBe(404);
    expect((await server.api('GET', `/apps/com.example.nope/channels/production/health`)).status).toBe(404);
  });

  it('prints a table and JSON in the CLI', async () => {
    const env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    const table = await cli(
      ['channel', 'adoption', 'production', '--app', APP, '--bucket', 'hour', '--since', t0.toISOString()],
      { cwd: server.dataDir, env },
    );
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/1\.1\.0\s+1\.0\.0/);
    expect(table.stdout).toContain(`${hour(2).toISOString().slice(0, 16).replace('T', ' ')}`);
    expect(table.stdout).toMatch(/1\.1\.0: 100 devices installed it since/);
    const json = await cli(['channel', 'adoption', 'production', '--app', APP, '--json'], {
      cwd: server.dataDir,
      env,
    });
    expect(json.code).toBe(0);
    expect(json.json).toMatchObject({ channel: 'production', bucket: 'day' });
  });
});

describe('release health and the halt on evidence', () => {
  /** A webhook receiver: the halt must be announced, not just recorded. */
  const received: { event: string; data: Record<string, unknown> }[] = [];
  const receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      response.end('ok');
    });
  });
  let hookUrl = '';
  const fleets: Fleet[] = [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    for (const fleet of fleets) fleet.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  /**
   * An app with 1.0.0 live and 1.1.0 rolled out to half of the devices, with these channel settings;
   * then 400 new devices (on the bundle built into the app, 0.9.0) check once and apply what they are
   * offered: the rollout's devices 1.1.0, `fails` of them failing to start it; the others the live
   * 1.0.0, without failures: the control group, devices that tried the live bundle over the same hours.
   */
  async function rolloutWith(
    appId: string,
    settings: Record<string, unknown>,
    fails: (index: number) => boolean,
    webhook?: string,
  ) {
    await setupApp(appId, ['1.0.0', '1.1.0'], '1.0.0');
    if (webhook)
      expect(
        (await server.api('POST', '/webhooks', { url: webhook, events: ['release.halted'], app_id: appId }))
          .status,
      ).toBe(201);
    expect((await server.api('PATCH', channelRoute(appId), settings)).body).toMatchObject(settings);
    expect(
      (await server.api('POST', `${channelRoute(appId)}/rollout`, { version: '1.1.0', percent: 50 })).status,
    ).toBe(200);
    const fleet = new Fleet(server.url, appId, 400, () => ({ version: '0.9.0' }));
    fleets.push(fleet);
    const results = await fleet.check();
    const rolledOut = new Set(results.filter((r) => r.offered === '1.1.0').map((r) => r.device.id));
    expect(results.every((r) => r.offered === '1.0.0' || r.offered === '1.1.0')).toBe(true);
    await fleet.apply(results, (device) =>
      rolledOut.has(device.id) && fails(Number(device.id.slice(-5))) ? 'install_fail' : 'install',
    );
    await server.services.activity.flush();
    return { fleet, results };
  }
  const health = async (appId: string) => {
    const answer = await server.api('GET', `${channelRoute(appId)}/health`);
    expect(answer.status).toBe(200);
    return answer.body;
  };
  const historyOf = async (appId: string) =>
    (await server.api('GET', `${channelRoute(appId)}/history`)).body.items as any[];

  it('judges a channel on evidence at most once per interval, and the last failures at its end', async () => {
    const throttled = await startTestServer({}, { evidenceIntervalMs: 1500 });
    const main = server;
    server = throttled;
    try {
      const APP = 'com.example.throttled';
      await setupApp(APP, ['1.0.0', '1.1.0'], '1.0.0');
      await server.api('PATCH', channelRoute(APP), { halt_on_evidence: true });
      await server.api('POST', `${channelRoute(APP)}/rollout`, { version: '1.1.0', percent: 50 });
      // Each judgement is a query over the release's devices: when they ran.
      const insight = throttled.services.insight;
      const evidence = insight.evidence.bind(insight);
      const judged: number[] = [];
      insight.evidence = async (channel) => {
        judged.push(Date.now());
        return evidence(channel);
      };
      const failure = {
        app_id: APP,
        device_id: 'phone-1',
        action: 'update_fail',
        version_name: '1.1.0',
        old_version_name: '1.0.0',
        platform: 'android',
        plugin_version: '8.0.0',
        channel: 'production',
        at: new Date().toISOString(),
      };
      // Three flushes with failures in a row: judged at the first, once more at the interval's end.
      for (let i = 0; i < 3; i++) await throttled.services.safety.afterWrite([failure]);
      expect(judged).toHaveLength(1);
      await waitFor(() => judged.length === 2);
      expect(judged[1]! - judged[0]!).toBeGreaterThanOrEqual(1400);
      await new Promise((resolve) => setTimeout(resolve, 1800));
      expect(judged).toHaveLength(2);
    } finally {
      server = main;
      await throttled.stop();
    }
  });

  it('halts a rollout whose devices fail more than the control group, saying why, once', async () => {
    const APP = 'com.example.evidence';
    // Two devices in five fail to start 1.1.0; the control devices on 1.0.0 report nothing wrong.
    const { fleet } = await rolloutWith(
      APP,
      { halt_on_evidence: true, evidence_min_devices: 50 },
      (n) => n % 5 < 2,
      hookUrl,
    );
    expect((await server.api('GET', channelRoute(APP))).body).toMatchObject({
      version: '1.0.0',
      rollout: null,
    });
    const halts = (await historyOf(APP)).filter((entry) => entry.action === 'halt');
    expect(halts).toHaveLength(1);
    expect(halts[0]).toMatchObject({ version: '1.0.0', previous_version: '1.1.0', actor: 'overair' });
    const reason =
      /^automatic halt on evidence: 1\.1\.0 failed on (\d+) of (\d+) devices \(([\d.]+)%, 95% CI ([\d.]+)%-([\d.]+)%\); the control group on 1\.0\.0 over the same hours failed on (\d+) of (\d+) devices \(([\d.]+)%, 95% CI ([\d.]+)%-([\d.]+)%\); the 95% intervals do not overlap$/;
    expect(halts[0].reason).toMatch(reason);
    const [, failed, devices, , low, , controlFailed, controlDevices, , , controlHigh] = reason
      .exec(halts[0].reason)!
      .map(Number);
    expect(devices).toBeGreaterThanOrEqual(50);
    expect(controlDevices).toBeGreaterThanOrEqual(50);
    expect(failed! / devices!).toBeGreaterThan(0.2);
    expect(controlFailed).toBe(0);
    expect(low).toBeGreaterThan(controlHigh!);

    // ...announced with the same reason...
    for (let i = 0; i < 100 && !received.some((r) => r.data.channel === 'production'); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toEqual([
      expect.objectContaining({
        event: 'release.halted',
        data: expect.objectContaining({
          channel: 'production',
          from: '1.1.0',
          to: '1.0.0',
          reason: halts[0].reason,
        }),
      }),
    ]);

    // ...and late reports of the same failures halt nothing again (which would roll 1.0.0 back).
    const late = fleet.devices.slice(0, 20).map((device) => ({
      ...fleet.info(device),
      action: 'update_fail',
      version_name: '1.1.0',
      old_version_name: '1.0.0',
    }));
    expect((await server.device('POST', '/stats', late)).status).toBe(200);
    await server.services.activity.flush();
    expect((await historyOf(APP)).filter((entry) => entry.action === 'halt')).toHaveLength(1);
    expect((await server.api('GET', channelRoute(APP))).body.version).toBe('1.0.0');
    // The health answer now judges the live bundle: no rollout, no control group.
    expect(await health(APP)).toMatchObject({
      healthy: true,
      verdict: null,
      control: null,
      rollout_percent: null,
    });
  });

  it('leaves a healthy rollout alone: the intervals overlap', async () => {
    const APP = 'com.example.healthy';
    // One device in 50 fails: 2%, within what the control's interval allows.
    await rolloutWith(APP, { halt_on_evidence: true, evidence_min_devices: 50 }, (n) => n % 50 === 0);
    expect((await server.api('GET', channelRoute(APP))).body.rollout).toEqual({
      version: '1.1.0',
      percent: 50,
    });
    expect((await historyOf(APP)).some((entry) => entry.action === 'halt')).toBe(false);
    const report = await health(APP);
    expect(report).toMatchObject({ healthy: true, verdict: 'no_evidence', halt_on_evidence: true });
    expect(report.release.failed).toBeGreaterThan(0);
    expect(report.release.low).toBeLessThanOrEqual(report.control.high);
    expect(report.reason).toMatch(/^no evidence that 1\.1\.0 fails more/);
  });

  it('does not halt with fewer devices than the minimum in a group', async () => {
    const APP = 'com.example.few';
    // Every rollout device fails, but no group reaches 500 devices.
    await rolloutWith(APP, { halt_on_evidence: true, evidence_min_devices: 500 }, () => true);
    expect((await server.api('GET', channelRoute(APP))).body.rollout).toEqual({
      version: '1.1.0',
      percent: 50,
    });
    expect((await historyOf(APP)).some((entry) => entry.action === 'halt')).toBe(false);
    const report = await health(APP);
    expect(report).toMatchObject({ healthy: true, verdict: 'too_few_devices' });
    expect(report.reason).toMatch(/^not enough devices to judge: .* each group needs 500$/);
  });

  it('says a rollout failing more than its control is unhealthy, with both rates and intervals', async () => {
    const APP = 'com.example.unhealthy';
    // The rule is off here: the health answer says what it would do; nothing is halted.
    const { results } = await rolloutWith(APP, { evidence_min_devices: 50 }, (n) => n % 5 < 2);
    const tried = results.filter((result) => result.offered === '1.1.0').length;
    const report = await health(APP);
    expect(report).toMatchObject({
      app_id: APP,
      channel: 'production',
      healthy: false,
      verdict: 'worse',
      rollout_percent: 50,
      halt_on_evidence: false,
      evidence_min_devices: 50,
      over_threshold: false,
      release: { version: '1.1.0', devices: tried },
      control: { version: '1.0.0', devices: 400 - tried, failed: 0, rate: 0, low: 0 },
      previous: { version: '1.0.0' },
    });
    expect(report.release.failed / tried).toBeGreaterThan(0.3);
    expect(report.release.low).toBeGreaterThan(report.control.high);
    expect(report.reason).toMatch(/^automatic halt on evidence: 1\.1\.0 failed on \d+ of \d+ devices/);
    expect((await server.api('GET', channelRoute(APP))).body.rollout).toEqual({
      version: '1.1.0',
      percent: 50,
    });
  });
});
