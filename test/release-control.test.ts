import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { cli } from './helpers/cli.js';
import { Fleet, type SimDevice } from './helpers/fleet.js';
import { ADMIN_TOKEN, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

let server: TestServer;

beforeAll(async () => {
  // The webhook receiver of the automatic halt listens on loopback.
  server = await startTestServer({ OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' });
});
afterAll(() => server.stop());

/** An app with its default channel "production", the given bundles, and `live` live on it. */
async function setupApp(appId: string, versions: string[], live: string): Promise<void> {
  expect((await server.api('POST', '/apps', { id: appId })).status).toBe(201);
  for (const version of versions) {
    const zip = await makeZip({
      'index.html': `<!doctype html><script>CapacitorUpdater.notifyAppReady()</script><!-- ${version} -->`,
    });
    expect((await uploadBundle(server, appId, zip, { version })).status).toBe(201);
  }
  expect(
    (await server.api('PUT', `/apps/${appId}/channels/production/bundle`, { version: live })).status,
  ).toBe(200);
}

const channelRoute = (appId: string, channel = 'production') => `/apps/${appId}/channels/${channel}`;

async function rollout(appId: string, version: string, percent: number) {
  const answer = await server.api('POST', `${channelRoute(appId)}/rollout`, { version, percent });
  expect(answer.status).toBe(200);
  return answer.body;
}

async function patchChannel(appId: string, changes: Record<string, unknown>) {
  const answer = await server.api('PATCH', channelRoute(appId), changes);
  expect(answer.status).toBe(200);
  return answer.body;
}

async function history(appId: string) {
  return (await server.api('GET', `${channelRoute(appId)}/history?limit=100`)).body.items as any[];
}

const PLUGINS = ['8.51.23', '8.40.8', '7.36.1', '6.14.30'];

describe('staged rollouts with a simulated fleet', () => {
  const APP = 'com.example.rollout';
  let fleet: Fleet;
  const firstSlice = new Set<string>();
  /** Devices that failed to start 1.1.0 and rolled back to 1.0.0. */
  const rolledBack = new Set<string>();

  beforeAll(async () => {
    await setupApp(APP, ['1.0.0', '1.1.0'], '1.0.0');
    fleet = new Fleet(server.url, APP, 2000, (index) => ({ plugin: PLUGINS[index % PLUGINS.length]! }));
  });
  afterAll(() => fleet.close());

  it('serves a 10% rollout to about 10% of 2,000 devices', async () => {
    const channel = await rollout(APP, '1.1.0', 10);
    expect(channel.rollout).toEqual({ version: '1.1.0', percent: 10 });
    const results = await fleet.cycle();
    expect(results.every((result) => result.status === 200)).toBe(true);
    const offered = results.filter((result) => result.offered);
    expect(offered.every((result) => result.offered === '1.1.0')).toBe(true);
    expect(offered.length / 2000).toBeGreaterThan(0.07);
    expect(offered.length / 2000).toBeLessThan(0.13);
    // The others are told there is nothing new.
    for (const result of results.filter((r) => !r.offered)) expect(result.body.kind).toBe('up_to_date');
    for (const result of offered) firstSlice.add(result.device.id);
  });

  it('raises it to 50% without moving any device back, some downloads failing', async () => {
    await rollout(APP, '1.1.0', 50);
    // One device in 20 fails its download this time and stays on 1.0.0.
    const failsDownload = (device: SimDevice) => Number(device.id.slice(-5)) % 20 === 0;
    const results = await fleet.cycle((device) => (failsDownload(device) ? 'download_fail' : 'install'));
    for (const result of results) {
      // Every device of the first 10 % runs 1.1.0 and is offered nothing, least of all 1.0.0.
      if (firstSlice.has(result.device.id)) expect(result.body.kind).toBe('up_to_date');
      if (result.offered) expect(result.offered).toBe('1.1.0');
    }
    const offered = results.filter((result) => result.offered).length + firstSlice.size;
    expect(offered / 2000).toBeGreaterThan(0.45);
    expect(offered / 2000).toBeLessThan(0.55);
    for (const id of firstSlice) expect(fleet.devices.find((d) => d.id === id)!.version).toBe('1.1.0');
    // A check again: whoever runs 1.1.0 stays on it.
    for (const result of await fleet.check()) {
      if (result.device.version === '1.1.0') expect(result.body.kind).toBe('up_to_date');
    }
  });

  it('completes the rollout at 100%: the bundle becomes live for every device', async () => {
    const channel = await rollout(APP, '1.1.0', 100);
    expect(channel).toMatchObject({ version: '1.1.0', rollout: null });
    // One device in 40 fails to start it and rolls back (no threshold on this channel).
    const failsStart = (device: SimDevice) => Number(device.id.slice(-5)) % 40 === 3;
    const results = await fleet.cycle((device) => (failsStart(device) ? 'install_fail' : 'install'));
    for (const result of results) {
      if (result.offered) expect(result.offered).toBe('1.1.0');
      else expect(result.device.version).toBe('1.1.0');
      if (result.offered && failsStart(result.device)) rolledBack.add(result.device.id);
    }
    expect(rolledBack.size).toBeGreaterThan(10);
    for (const device of fleet.devices)
      expect(device.version).toBe(rolledBack.has(device.id) ? '1.0.0' : '1.1.0');
    expect((await history(APP)).map((entry) => [entry.action, entry.version, entry.reason])).toEqual([
      ['set', '1.1.0', 'rollout completed'],
      ['rollout', '1.1.0', '50% of devices'],
      ['rollout', '1.1.0', '10% of devices'],
      ['set', '1.0.0', null],
    ]);
  });

  it('reports in the statistics API exactly what the fleet reported', async () => {
    // A last check, so every device row shows the bundle its device runs after the rollbacks.
    await fleet.check();
    await server.services.activity.flush();
    const stats = await server.api('GET', `/apps/${APP}/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ app_id: APP, channel: null, bucket: 'day' });
    const running = fleet.running();
    const byVersion = new Map((stats.body.versions as any[]).map((v) => [v.version, v]));
    expect([...byVersion.keys()]).toEqual(['1.1.0', '1.0.0']);
    for (const version of ['1.0.0', '1.1.0']) {
      expect(byVersion.get(version)).toEqual({
        version,
        devices: running.get(version) ?? 0,
        ...fleet.reported(version),
      });
    }
    const reported = fleet.reported('1.1.0');
    // Every device activated 1.1.0 once (those that rolled back too), after failed downloads for some.
    expect(reported.installs).toBe(2000);
    expect(reported.download_failures).toBeGreaterThan(0);
    expect(reported.install_failures).toBe(rolledBack.size);
    expect(reported.rollbacks).toBe(rolledBack.size);

    // The time series adds up to the totals (each device reported each action once).
    const series = (stats.body.series as any[]).filter((point) => point.version === '1.1.0');
    expect(series.length).toBeGreaterThan(0);
    for (const key of [
      'downloads',
      'installs',
      'download_failures',
      'install_failures',
      'rollbacks',
    ] as const)
      expect(series.reduce((sum, point) => sum + point[key], 0)).toBe(reported[key]);
    const hourly = await server.api('GET', `/apps/${APP}/stats?bucket=hour&since=24h`);
    expect(hourly.status).toBe(200);
    for (const point of hourly.body.series) expect(point.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);

    // Plugin versions in the field.
    const plugins = Object.fromEntries(
      (stats.body.plugin_versions as any[]).map((p) => [p.plugin_version, p.devices]),
    );
    expect(plugins).toEqual(Object.fromEntries(PLUGINS.map((plugin) => [plugin, 500])));

    // Per channel: every event and device of this app is on production.
    const production = await server.api('GET', `/apps/${APP}/stats?channel=production`);
    expect(production.body.versions).toEqual(stats.body.versions);
    const other = await server.api('GET', `/apps/${APP}/stats?channel=beta`);
    expect(other.body.versions).toEqual([]);
    // A period before the fleet's reports holds none of them.
    const before = await server.api('GET', `/apps/${APP}/stats?since=2020-01-01&until=2020-02-01`);
    expect(before.body.versions.every((v: any) => v.downloads === 0 && v.installs === 0)).toBe(true);
  });

  it('prints the statistics with `overair stats`', async () => {
    const project = await fs.mkdtemp('/tmp/overair-stats-');
    try {
      const env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
      const text = await cli(['stats', '--app', APP, '--since', '7d'], { cwd: project, env });
      expect(text.code).toBe(0);
      const lines = text.stdout.split('\n');
      expect(lines[0]).toMatch(/^App com\.example\.rollout, all channels, events from /);
      expect(lines[2]).toMatch(/^VERSION\s+DEVICES\s+DOWNLOADS\s+INSTALLS\s+DOWNLOAD FAILURES/);
      expect(lines[3]).toMatch(new RegExp(`^1\\.1\\.0\\s+${2000 - rolledBack.size}\\s+2000\\s+2000\\s`));
      expect(text.stdout).toMatch(/8\.51\.23\s+500/);
      const json = await cli(['stats', '--app', APP, '--channel', 'production', '--json'], {
        cwd: project,
        env,
      });
      expect(json.code).toBe(0);
      expect(json.json.versions[0]).toMatchObject({
        version: '1.1.0',
        devices: 2000 - rolledBack.size,
        rollbacks: rolledBack.size,
      });
      const bad = await cli(['stats', '--app', APP, '--since', 'yesterday'], { cwd: project, env });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/since: expected an ISO date/);
    } finally {
      await fs.rm(project, { recursive: true, force: true });
    }
  });

  it('deletes events older than the retention, keeping the devices', async () => {
    expect(await server.services.stats.prune(90)).toBe(0);
    const health = async () => (await server.api('GET', `/apps/${APP}/channels/production/health`)).body;
    expect((await health()).release.devices).toBeGreaterThan(1000);
    const later = new Date(Date.now() + 91 * 86_400_000);
    expect(await server.services.stats.prune(90, { at: later })).toBeGreaterThan(2000);
    // Release health's counts (release_devices) go with the events they were counted from.
    expect((await health()).release).toMatchObject({ devices: 0, failed: 0 });
    const stats = await server.api('GET', `/apps/${APP}/stats`);
    for (const version of stats.body.versions) {
      expect(version).toMatchObject({ downloads: 0, installs: 0, install_failures: 0 });
    }
    expect(stats.body.versions.find((v: any) => v.version === '1.1.0').devices).toBe(2000 - rolledBack.size);
  });
});

describe('targeting, native-version policy and downgrades over HTTP', () => {
  const APP = 'com.example.targeting';
  let fleet: Fleet;

  beforeAll(async () => {
    await setupApp(APP, ['1.0.0', '1.1.0', '2.0.0'], '1.1.0');
    fleet = new Fleet(server.url, APP, 300, (index) => ({
      platform: index % 2 === 0 ? 'ios' : 'android',
      isEmulator: index % 5 === 0,
      isProd: index % 3 !== 0,
    }));
  });
  afterAll(() => fleet.close());

  /** error code (or offered version) -> number of devices */
  async function answers(devices?: SimDevice[]) {
    const counts: Record<string, number> = {};
    for (const result of await fleet.check(devices)) {
      const key = result.offered ?? `${result.body.kind}:${result.body.error}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
  const count = (test: (device: SimDevice) => boolean) => fleet.devices.filter(test).length;

  it('serves only the platforms a channel targets', async () => {
    await patchChannel(APP, { platforms: ['ios'] });
    expect(await answers()).toEqual({ '1.1.0': 150, 'blocked:disabled_platform_android': 150 });
    await patchChannel(APP, { platforms: ['ios', 'android'] });
    expect(await answers()).toEqual({ '1.1.0': 300 });
  });

  it('keeps emulators, development builds or store builds off a channel', async () => {
    await patchChannel(APP, { platforms: [], allow_emulator: false });
    expect(await answers()).toEqual({
      '1.1.0': count((d) => !d.isEmulator),
      'blocked:disable_emulator': count((d) => d.isEmulator),
    });
    await patchChannel(APP, { allow_emulator: true, allow_dev: false });
    expect(await answers()).toEqual({
      '1.1.0': count((d) => d.isProd),
      'blocked:disable_dev_build': count((d) => !d.isProd),
    });
    await patchChannel(APP, { allow_dev: true, allow_prod: false });
    const blocked = await fleet.check();
    for (const result of blocked) {
      if (result.device.isProd)
        expect(result.body).toMatchObject({ kind: 'blocked', error: 'disable_prod_build' });
      else expect(result.offered).toBe('1.1.0');
    }
    await patchChannel(APP, { allow_prod: true });
  });

  it('applies the native-version policy to the bundle offered', async () => {
    await server.api('PUT', `${channelRoute(APP)}/bundle`, { version: '2.0.0' });
    const mixed = fleet.devices.slice(0, 20).map((device, index) => ({
      ...device,
      native: index % 2 === 0 ? '1.4.0' : '2.1.0',
    }));
    await patchChannel(APP, { native_policy: 'major' });
    const major = await fleet.check(mixed);
    for (const result of major) {
      if (result.device.native === '2.1.0') expect(result.offered).toBe('2.0.0');
      else
        expect(result.body).toEqual({
          error: 'disable_auto_update_to_major',
          message: expect.any(String),
          kind: 'blocked',
          version: '2.0.0',
          old: '1.0.0',
          // A store update lifts it: the plugin fires breakingAvailable.
          breaking: true,
        });
    }
    await patchChannel(APP, { native_policy: 'under_native' });
    const under = await fleet.check(mixed);
    // 2.0.0 is older than native 2.1.0.
    for (const result of under) {
      if (result.device.native === '2.1.0')
        expect(result.body).toMatchObject({ kind: 'blocked', error: 'disable_auto_update_under_native' });
      else expect(result.offered).toBe('2.0.0');
    }
    await patchChannel(APP, { native_policy: 'minor' });
    // 1.4.0 may not move to 2.x; 2.1.0 may take 2.0.0 (same major, no newer minor).
    expect(await answers(mixed)).toEqual({ 'blocked:disable_auto_update_to_minor': 10, '2.0.0': 10 });
    await patchChannel(APP, { native_policy: 'none' });
    expect(await answers(mixed)).toEqual({ '2.0.0': 20 });
  });

  it('serves an older bundle only while downgrades are allowed', async () => {
    await server.api('PUT', `${channelRoute(APP)}/bundle`, { version: '1.0.0' });
    const onNewer = fleet.devices.slice(0, 10).map((device) => ({ ...device, version: '1.1.0' }));
    expect(await answers(onNewer)).toEqual({ '1.0.0': 10 });
    await patchChannel(APP, { allow_downgrade: false });
    expect(await answers(onNewer)).toEqual({ 'blocked:downgrade_not_allowed': 10 });
    // An upgrade is still served.
    const onOlder = onNewer.map((device) => ({ ...device, version: '0.9.0' }));
    expect(await answers(onOlder)).toEqual({ '1.0.0': 10 });
  });
});

describe('automatic halt of a failing release', () => {
  const APP = 'com.example.safety';
  let fleet: Fleet;
  /** Two devices in five fail to start whatever they are given. */
  const fails = (device: SimDevice) => Number(device.id.slice(-5)) % 5 < 2;

  /** A webhook receiver: the automatic halt must be announced, not just recorded. */
  const received: { event: string; data: Record<string, unknown> }[] = [];
  const receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      response.end('ok');
    });
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    await setupApp(APP, ['1.0.0', '1.1.0', '1.2.0'], '1.0.0');
    const hook = await server.api('POST', '/webhooks', {
      url: `http://127.0.0.1:${port}/hook`,
      events: ['release.halted'],
      app_id: APP,
    });
    expect(hook.status).toBe(201);
    const channel = await patchChannel(APP, { failure_threshold: 0.2, failure_min_devices: 50 });
    expect(channel).toMatchObject({ failure_threshold: 0.2, failure_min_devices: 50 });
    fleet = new Fleet(server.url, APP, 400);
  });
  afterAll(async () => {
    await fleet.close();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('halts a rollout whose devices fail to start it, and they get the live bundle again', async () => {
    await rollout(APP, '1.1.0', 50);
    const results = await fleet.cycle((device) => (fails(device) ? 'install_fail' : 'install'));
    const tried = results.filter((result) => result.offered === '1.1.0');
    expect(tried.length).toBeGreaterThan(150);
    await server.services.activity.flush();

    const channel = (await server.api('GET', channelRoute(APP))).body;
    expect(channel).toMatchObject({ version: '1.0.0', rollout: null });
    const [halt] = await history(APP);
    expect(halt).toMatchObject({
      action: 'halt',
      version: '1.0.0',
      previous_version: '1.1.0',
      actor: 'overair',
    });
    // Judged after a flush that wrote failures: by then at least 50 devices had tried it, 20 %+ failing.
    const reason =
      /^automatic halt: (\d+) of (\d+) devices \([\d.]+%\) failed to start 1\.1\.0; threshold 20% after 50 devices$/;
    expect(halt.reason).toMatch(reason);
    const [, failed, of] = reason.exec(halt.reason)!.map(Number);
    expect(of).toBeGreaterThanOrEqual(50);
    expect(of).toBeLessThanOrEqual(tried.length);
    expect(failed! / of!).toBeGreaterThanOrEqual(0.2);

    // ...announced to the webhooks...
    for (let i = 0; i < 100 && received.length === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toEqual([
      expect.objectContaining({
        event: 'release.halted',
        data: expect.objectContaining({
          channel: 'production',
          from: '1.1.0',
          to: '1.0.0',
          reason: halt.reason,
        }),
      }),
    ]);

    // The devices that installed 1.1.0 are rolled back to 1.0.0; nobody is offered 1.1.0 any more.
    for (const result of await fleet.check()) {
      if (result.device.version === '1.1.0') expect(result.offered).toBe('1.0.0');
      else expect(result.body.kind).toBe('up_to_date');
    }
  });

  it('judges a bundle released again on its new reports only', async () => {
    await rollout(APP, '1.1.0', 10);
    // As after a restart, which forgets the releases halted in memory: the history must tell.
    (server.services.safety as any).done.clear();
    // Three new failures: far over 20 %, but 3 devices are not the 50 needed. Counting the reports
    // of the halted release as well would halt it again at once.
    const reports = fleet.devices.filter(fails).slice(0, 3);
    const events = reports.flatMap((device) =>
      ['download_complete', 'set', 'update_fail', 'app_launch_timeout'].map((action) => ({
        ...fleet.info(device),
        action,
        version_name: '1.1.0',
        old_version_name: '1.0.0',
      })),
    );
    expect((await server.device('POST', '/stats', events)).status).toBe(200);
    await server.services.activity.flush();
    expect((await server.api('GET', channelRoute(APP))).body.rollout).toEqual({
      version: '1.1.0',
      percent: 10,
    });
    expect((await server.api('POST', `${channelRoute(APP)}/rollback`, { reason: 'test' })).status).toBe(200);
  });

  it('halts a live release by rolling the channel back, once', async () => {
    await fleet.cycle();
    expect(fleet.devices.every((device) => device.version === '1.0.0')).toBe(true);
    await server.api('PUT', `${channelRoute(APP)}/bundle`, { version: '1.2.0' });
    await fleet.cycle((device) => (fails(device) ? 'install_fail' : 'install'));
    await server.services.activity.flush();
    expect((await server.api('GET', channelRoute(APP))).body).toMatchObject({
      version: '1.0.0',
      rollout: null,
    });

    // Late reports of the same failures do not halt anything again (which would roll 1.0.0 back).
    const late = fleet.devices.filter(fails).map((device) => ({
      ...fleet.info(device),
      action: 'update_fail',
      version_name: '1.2.0',
      old_version_name: '1.0.0',
    }));
    expect((await server.device('POST', '/stats', late)).status).toBe(200);
    await server.services.activity.flush();
    expect((await server.api('GET', channelRoute(APP))).body).toMatchObject({
      version: '1.0.0',
      rollout: null,
    });
    const halts = (await history(APP)).filter((entry) => entry.action === 'halt');
    expect(halts.map((entry) => entry.previous_version)).toEqual(['1.2.0', '1.1.0']);

    // Devices that installed 1.2.0 get 1.0.0 again.
    const answers = await fleet.check();
    expect(answers.filter((result) => result.offered === '1.0.0').length).toBe(
      fleet.devices.filter((device) => !fails(device)).length,
    );
  });

  it('leaves a healthy release under the same threshold alone', async () => {
    const HEALTHY = 'com.example.healthy';
    await setupApp(HEALTHY, ['1.0.0', '1.1.0'], '1.0.0');
    await patchChannel(HEALTHY, { failure_threshold: 0.2, failure_min_devices: 50 });
    await rollout(HEALTHY, '1.1.0', 60);
    const healthy = new Fleet(server.url, HEALTHY, 400);
    // One device in 20 fails: 5 %, under the threshold.
    await healthy.cycle((device) => (Number(device.id.slice(-5)) % 20 === 0 ? 'install_fail' : 'install'));
    await server.services.activity.flush();
    expect(healthy.reported('1.1.0').install_failures).toBeGreaterThan(5);
    expect((await server.api('GET', channelRoute(HEALTHY))).body).toMatchObject({
      version: '1.0.0',
      rollout: { version: '1.1.0', percent: 60 },
    });
    expect((await history(HEALTHY)).some((entry) => entry.action === 'halt')).toBe(false);
    healthy.close();
  });
});

describe('statistics API input and retention setting', () => {
  it('answers read tokens, and refuses bad periods and unknown apps', async () => {
    const token = await server.api('POST', '/tokens', { name: 'stats-reader', scope: 'read' });
    const APP = 'com.example.rollout';
    const read = await server.api('GET', `/apps/${APP}/stats`, undefined, token.body.token);
    expect(read.status).toBe(200);
    const refused = async (query: string, message: RegExp) => {
      const answer = await server.api('GET', `/apps/${APP}/stats?${query}`);
      expect(answer.status).toBe(400);
      expect(answer.body.message).toMatch(message);
    };
    await refused('bucket=week', /bucket/);
    await refused('since=tomorrow', /since: expected an ISO date/);
    await refused('since=2026-01-01&until=2025-01-01', /since: must be before until/);
    await refused('bucket=hour&since=60d', /at most 31 days/);
    await refused('channel=no%20spaces', /channel/);
    expect((await server.api('GET', '/apps/com.example.nope/stats')).status).toBe(404);
  });

  it('reads OVERAIR_STATS_RETENTION_DAYS, 90 by default, naming the variable when it is wrong', () => {
    const base = { OVERAIR_DATA_DIR: '/tmp/x' };
    expect(loadConfig(base).statsRetentionDays).toBe(90);
    expect(loadConfig({ ...base, OVERAIR_STATS_RETENTION_DAYS: '0' }).statsRetentionDays).toBe(0);
    expect(loadConfig(base, { statsRetentionDays: '30' }).statsRetentionDays).toBe(30);
    for (const bad of ['abc', '1.5', '-3', '99999'])
      expect(() => loadConfig({ ...base, OVERAIR_STATS_RETENTION_DAYS: bad })).toThrow(
        /OVERAIR_STATS_RETENTION_DAYS/,
      );
  });
});
