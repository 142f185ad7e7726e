/**
 * The native compatibility gate (docs/native-compatibility.md), end to end through the real server
 * and the CLI: a project whose second release adds a native plugin is refused to devices on the
 * registered old binary and served to devices on the registered new one, on both plugins' endpoints;
 * unregistered binaries follow the channel's rule; the compatibility report counts the devices and
 * `--fail-on-incompatible` fails; the CLI reads the native layer as Capacitor finds native plugins.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, makeProject } from './helpers/cli.js';
import { ADMIN_TOKEN, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.gate';
const STORE = 'https://play.google.com/store/apps/details?id=com.example.gate';

/** Installs a package into the project's node_modules: its package.json, and any files given. */
async function install(project: string, name: string, meta: object, files: Record<string, string> = {}) {
  const folder = path.join(project, 'node_modules', name);
  await fs.mkdir(folder, { recursive: true });
  await fs.writeFile(path.join(folder, 'package.json'), JSON.stringify({ name, ...meta }));
  for (const [file, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(folder, file)), { recursive: true });
    await fs.writeFile(path.join(folder, file), content);
  }
}

async function addDependencies(project: string, dependencies: Record<string, string>, dev = {}) {
  const file = path.join(project, 'package.json');
  const pkg = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  pkg.dependencies = { ...pkg.dependencies, ...dependencies };
  pkg.devDependencies = { ...pkg.devDependencies, ...dev };
  await fs.writeFile(file, JSON.stringify(pkg));
}

/** A Capacitor 6 project with the kinds of packages Capacitor's CLI tells apart. */
async function makeNativeProject(): Promise<string> {
  const project = await makeProject({ appId: APP, version: '1.0.0' });
  await install(project, '@capacitor/core', { version: '6.1.0' });
  await install(project, '@capacitor/android', { version: '6.1.2' });
  await install(project, '@capacitor/ios', { version: '6.1.1' });
  await install(project, '@capacitor/cli', { version: '6.1.0' });
  // Declares both platforms in its `capacitor` field.
  await install(project, '@capgo/capacitor-updater', {
    version: '8.51.23',
    capacitor: { android: { src: 'android' }, ios: { src: 'ios' } },
  });
  // A `capacitor` field without entries: its android/ios folders say which platforms it has.
  await install(
    project,
    'capacitor-plugin-folders',
    { version: '2.0.0', capacitor: {} },
    { 'ios/Plugin.swift': '// swift' },
  );
  // A Capacitor plugin with web code only.
  await install(project, 'capacitor-web-only', { version: '1.0.0', capacitor: {} });
  // A Cordova plugin: its plugin.xml names its platforms.
  await install(
    project,
    'cordova-plugin-thing',
    { version: '3.0.0', cordova: { id: 'thing' } },
    { 'plugin.xml': '<plugin id="thing"><platform name="android"></platform></plugin>' },
  );
  await install(project, 'lodash', { version: '4.17.21' });
  await addDependencies(
    project,
    {
      '@capacitor/core': '^6.1.0',
      '@capacitor/android': '^6.1.0',
      '@capacitor/ios': '^6.1.0',
      '@capgo/capacitor-updater': '^8.51.0',
      'capacitor-plugin-folders': '^2.0.0',
      'capacitor-web-only': '^1.0.0',
      'cordova-plugin-thing': '^3.0.0',
      lodash: '^4.17.0',
    },
    // Dev dependencies count too, unless they are not installed (a production install).
    { '@capacitor/cli': '^6.1.0', 'not-installed-tool': '^1.0.0' },
  );
  return project;
}

describe('native compatibility gate', () => {
  let server: TestServer;
  let project: string;
  let env: Record<string, string>;
  const run = (args: string[], cwd = project) => cli(args, { cwd, env });
  const check = (overrides: Record<string, unknown>) =>
    server.device('POST', '/updates', deviceInfo({ app_id: APP, version_name: '1.0.0', ...overrides }));
  const capawesome = (versionName: string, versionCode: string, deviceId: string) =>
    fetch(
      `${server.url}/v1/apps/${APP}/bundles/latest?appVersionCode=${versionCode}&appVersionName=${versionName}` +
        `&bundleId=1.0.0&deviceId=${deviceId}&platform=0&pluginVersion=8.4.3`,
    ).then(async (response) => ({ status: response.status, body: (await response.json()) as any }));

  // Devices: on the old registered binary, on the new one, on one nobody registered.
  const OLD = {
    device_id: 'aaaaaaaa-0000-4000-8000-000000000001',
    version_build: '1.0.0',
    version_code: '10',
  };
  const NEW = {
    device_id: 'aaaaaaaa-0000-4000-8000-000000000002',
    version_build: '2.0.0',
    version_code: '20',
  };
  const UNREGISTERED = {
    device_id: 'aaaaaaaa-0000-4000-8000-000000000003',
    version_build: '3.0.0',
    version_code: '30',
  };

  beforeAll(async () => {
    server = await startTestServer();
    env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    await server.api('POST', '/apps', { id: APP });
    project = await makeNativeProject();
  });
  afterAll(async () => {
    await server.stop();
    await fs.rm(project, { recursive: true, force: true });
  });

  it('reads the native layer as Capacitor finds native plugins, and records it with the bundle', async () => {
    const upload = await run(['bundle', 'upload', '--bundle', '1.0.0', '--channel', 'production']);
    expect(upload.stderr).toBe('');
    expect(upload.code).toBe(0);
    expect(upload.stdout).toMatch(
      /Native layer: Capacitor core 6\.1\.0, android 6\.1\.2, ios 6\.1\.1; 3 native packages/,
    );
    const info = await run(['bundle', 'info', '1.0.0', '--json']);
    expect(info.json.native_layer).toEqual({
      capacitor: { core: '6.1.0', android: '6.1.2', ios: '6.1.1' },
      packages: [
        { name: '@capgo/capacitor-updater', version: '8.51.23', platforms: ['android', 'ios'] },
        { name: 'capacitor-plugin-folders', version: '2.0.0', platforms: ['ios'] },
        { name: 'cordova-plugin-thing', version: '3.0.0', platforms: ['android'] },
      ],
    });
    expect(info.json.native_fingerprint).toMatch(/^[0-9a-f]{64}$/);
    const text = await run(['bundle', 'info', '1.0.0']);
    expect(text.stdout).toContain('cordova-plugin-thing      3.0.0    android');
  });

  it('refuses a project whose dependency is not installed, rather than record a wrong layer', async () => {
    const broken = await makeProject({ appId: APP, version: '9.9.9' });
    await install(broken, '@capacitor/core', { version: '6.1.0' });
    await addDependencies(broken, { '@capacitor/core': '^6.1.0', '@capacitor/camera': '^6.0.0' });
    const result = await run(['bundle', 'upload'], broken);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('@capacitor/camera is a dependency');
    expect(result.stderr).toContain('not installed');
    expect((await server.api('GET', `/apps/${APP}/bundles/9.9.9`)).status).toBe(404);
    // --no-native-layer uploads it with none.
    const skipped = await run(['bundle', 'upload', '--no-native-layer', '--json'], broken);
    expect(skipped.code).toBe(0);
    expect(skipped.json.native_layer).toBeNull();
    await fs.rm(broken, { recursive: true, force: true });
    // Outside a Capacitor project (no @capacitor/core dependency) the layer is unknown.
    const plain = await makeProject({ appId: APP, version: '9.9.8' });
    const unknown = await run(['bundle', 'upload'], plain);
    expect(unknown.code).toBe(0);
    expect(unknown.stdout).toContain('Native layer: unknown');
    await fs.rm(plain, { recursive: true, force: true });
  });

  it('registers the binary built from the project, and the next release adds a native plugin', async () => {
    const old = await run([
      'native',
      'register',
      '--platform',
      'android',
      '--version',
      '1.0.0',
      '--version-code',
      '10',
    ]);
    expect(old.code).toBe(0);
    expect(old.stdout).toContain('Registered com.example.gate android 1.0.0 (build 10)');

    await install(project, '@capacitor/camera', {
      version: '6.0.0',
      capacitor: { android: { src: 'android' }, ios: { src: 'ios' } },
    });
    await addDependencies(project, { '@capacitor/camera': '^6.0.0' });
    const upload = await run(['bundle', 'upload', '--bundle', '2.0.0', '--channel', 'production']);
    expect(upload.code).toBe(0);

    const newer = await run([
      'native',
      'register',
      '--platform',
      'android',
      '--version',
      '2.0.0',
      '--version-code',
      '20',
      '--store-url',
      STORE,
      '--json',
    ]);
    expect(newer.code).toBe(0);
    expect(newer.json).toMatchObject({
      platform: 'android',
      version: '2.0.0',
      version_code: '20',
      replaced: false,
    });
    // Registering the same binary again replaces its layer.
    const again = await run([
      'native',
      'register',
      '--platform',
      'android',
      '--version',
      '2.0.0',
      '--version-code',
      '20',
      '--json',
    ]);
    expect(again.json).toMatchObject({ replaced: true, store_url: STORE });
    const list = await run(['native', 'binaries', '--json']);
    expect(list.json.map((b: { version: string }) => b.version)).toEqual(['2.0.0', '1.0.0']);
  });

  it('refuses the bundle to the old binary on /updates, with breaking and the store link', async () => {
    const answer = await check(OLD);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      error: 'native_incompatible',
      kind: 'blocked',
      version: '2.0.0',
      breaking: true,
      link: STORE,
    });
    expect(answer.body.message).toBe(
      'Bundle 2.0.0 needs native code the android 1.0.0 (build 10) binary lacks: @capacitor/camera 6.0.0 (missing from the binary)',
    );
    expect(answer.body.url).toBeUndefined();
  });

  it('serves it to the new binary, and to an unregistered one by default', async () => {
    expect((await check(NEW)).body).toMatchObject({ version: '2.0.0' });
    expect((await check(NEW)).body.url).toBeTypeOf('string');
    expect((await check(UNREGISTERED)).body).toMatchObject({ version: '2.0.0' });
    // Another build number of the old version is another binary: not registered, so served.
    expect(
      (await check({ ...OLD, device_id: 'aaaaaaaa-0000-4000-8000-000000000009', version_code: '11' })).body,
    ).toMatchObject({ version: '2.0.0' });
  });

  it('answers the same on the Capawesome endpoint', async () => {
    const refused = await capawesome('1.0.0', '10', 'bbbbbbbb-0000-4000-8000-000000000001');
    expect(refused.status).toBe(404);
    expect(refused.body.error).toBe('native_incompatible');
    expect(refused.body.message).toContain('@capacitor/camera 6.0.0');
    const served = await capawesome('2.0.0', '20', 'bbbbbbbb-0000-4000-8000-000000000002');
    expect(served.status).toBe(200);
    expect(served.body.bundleId).toBe('2.0.0');
  });

  it('refuses unregistered binaries when the channel says so', async () => {
    const updated = await run([
      'channel',
      'update',
      'production',
      '--unregistered-binaries',
      'refuse',
      '--json',
    ]);
    expect(updated.json.unregistered_binaries).toBe('refuse');
    const answer = await check(UNREGISTERED);
    expect(answer.body).toMatchObject({
      error: 'native_build_unregistered',
      kind: 'blocked',
      version: '2.0.0',
    });
    expect(answer.body.breaking).toBeUndefined();
    const capa = await capawesome('3.0.0', '30', 'bbbbbbbb-0000-4000-8000-000000000003');
    expect(capa).toMatchObject({ status: 404, body: { error: 'native_build_unregistered' } });
    // Registered binaries are not concerned.
    expect((await check(NEW)).body).toMatchObject({ version: '2.0.0' });
  });

  it('reports, before a release, what the bundle would reach and refuse', async () => {
    // Every device of the checks above has its row.
    await waitFor(
      async () => (await server.api('GET', `/apps/${APP}/devices?limit=50`)).body.items.length >= 7,
    );
    const report = await run(['bundle', 'compatibility', '2.0.0', '--channel', 'production', '--json']);
    expect(report.code).toBe(0);
    expect(report.json.binaries).toMatchObject([
      {
        version: '1.0.0',
        version_code: '10',
        compatible: false,
        problems: ['@capacitor/camera 6.0.0 (missing from the binary)'],
      },
      { version: '2.0.0', version_code: '20', compatible: true, problems: [] },
    ]);
    expect(report.json.packages).toContainEqual({
      name: '@capacitor/camera',
      bundle: '6.0.0',
      binaries: [null, '6.0.0'],
    });
    expect(report.json.unregistered_binaries).toBe('refuse');
    const { devices } = report.json;
    expect(devices.total).toBe(devices.reached + devices.refused);
    const onOld = report.json.binaries[0].devices;
    const unregistered = report.json.unregistered.reduce(
      (sum: number, g: { devices: number }) => sum + g.devices,
      0,
    );
    expect(onOld).toBeGreaterThanOrEqual(2); // the Capgo and the Capawesome device
    expect(devices.refused).toBe(onOld + unregistered);

    const text = await run(['bundle', 'compatibility', '2.0.0', '--channel', 'production']);
    expect(text.stdout).toMatch(/@capacitor\/camera\s+6\.0\.0\s+-\s+6\.0\.0/);
    expect(text.stdout).toContain('REFUSED: @capacitor/camera 6.0.0 (missing from the binary)');
    expect(text.stdout).toMatch(/Would reach \d+ and refuse \d+ of \d+ devices/);

    const failing = await run([
      'bundle',
      'compatibility',
      '2.0.0',
      '--channel',
      'production',
      '--fail-on-incompatible',
    ]);
    expect(failing.code).toBe(2);
    expect(failing.stderr).toContain('--fail-on-incompatible');

    // The first release runs on both binaries; without a channel, unregistered binaries are served.
    const fine = await run(['bundle', 'compatibility', '1.0.0', '--fail-on-incompatible', '--json']);
    expect(fine.code).toBe(0);
    expect(fine.json.devices.refused).toBe(0);
    expect(fine.json.binaries.every((b: { compatible: boolean }) => b.compatible)).toBe(true);
  });

  it('serves a bundle whose native layer is unknown (a zip made elsewhere) to every binary', async () => {
    const zip = await makeZip({ 'index.html': '<html></html>' });
    const zipFile = path.join(project, 'elsewhere.zip');
    await fs.writeFile(zipFile, zip);
    const upload = await run([
      'bundle',
      'upload',
      '--zip',
      zipFile,
      '--bundle',
      '2.1.0',
      '--no-code-check',
      '--channel',
      'production',
    ]);
    expect(upload.code).toBe(0);
    expect(upload.stdout).toContain('Native layer: unknown');
    expect((await check(OLD)).body).toMatchObject({ version: '2.1.0' });
    expect((await check(UNREGISTERED)).body).toMatchObject({ version: '2.1.0' });
    // --native-from records the project's layer for a zip made elsewhere.
    const recorded = await run([
      'bundle',
      'upload',
      '--zip',
      zipFile,
      '--bundle',
      '2.2.0',
      '--native-from',
      project,
      '--json',
    ]);
    expect(recorded.json.native_layer.packages.map((p: { name: string }) => p.name)).toContain(
      '@capacitor/camera',
    );
  });

  it('registers the layer of a test build uploaded with one', async () => {
    const apk = await makeZip({ 'AndroidManifest.xml': '<manifest/>' });
    const apkFile = path.join(project, 'app.apk');
    await fs.writeFile(apkFile, apk);
    const upload = await run([
      'native',
      'upload',
      apkFile,
      '--platform',
      'android',
      '--version',
      '2.0.1',
      '--channel',
      'beta',
    ]);
    expect(upload.code).toBe(0);
    expect(upload.stdout).toContain('Registered its native layer');
    const { body } = await server.api('GET', `/apps/${APP}/binaries`);
    expect(body.items[0]).toMatchObject({ version: '2.0.1', version_code: null, source: 'upload' });
    const removed = await run(['native', 'unregister', 'android', '2.0.1']);
    expect(removed.code).toBe(0);
    expect((await server.api('GET', `/apps/${APP}/binaries`)).body.items).toHaveLength(2);
  });

  it('refuses bad input with a 4xx and {error, message}, and checks the role', async () => {
    const layer = { capacitor: { core: null, android: null, ios: null }, packages: [] };
    const bad = await server.api('POST', `/apps/${APP}/binaries`, {
      platform: 'android',
      version: '1.0.0',
      native_layer: { capacitor: {}, packages: [{ name: '../x', version: '1', platforms: ['windows'] }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    const notJson = await uploadBundle(server, APP, await makeZip({ 'index.html': 'x' }), {
      version: '5.0.0',
      native_layer: '{not json',
    });
    expect(notJson).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', message: 'native_layer: not valid JSON' },
    });
    expect((await server.api('GET', `/apps/${APP}/bundles/9.0.0/compatibility`)).body.error).toBe(
      'bundle_not_found',
    );
    expect((await server.api('GET', `/apps/${APP}/bundles/2.0.0/compatibility?channel=nope`)).status).toBe(
      404,
    );
    const missing = await server.api('DELETE', `/apps/${APP}/binaries/ios/1.0.0`);
    expect(missing).toMatchObject({ status: 404, body: { error: 'native_binary_not_found' } });
    const patch = await server.api('PATCH', `/apps/${APP}/channels/production`, {
      unregistered_binaries: 'maybe',
    });
    expect(patch.status).toBe(400);

    // The CLI: one line and a non-zero exit.
    const noBundle = await run(['bundle', 'compatibility', '9.0.0']);
    expect(noBundle.code).not.toBe(0);
    expect(noBundle.stderr).toMatch(/^overair: .*9\.0\.0/);
    const badPlatform = await run(['native', 'register', '--platform', 'windows', '--version', '1.0.0']);
    expect(badPlatform.code).not.toBe(0);
    expect(badPlatform.stderr).toContain('platform must be android or ios');

    const reader = await server.api('POST', '/tokens', { name: 'reader', scope: 'read' });
    const asReader = await server.api(
      'POST',
      `/apps/${APP}/binaries`,
      { platform: 'ios', version: '1.0.0', native_layer: layer },
      reader.body.token,
    );
    expect(asReader.status).toBe(403);
    const readReport = await server.api(
      'GET',
      `/apps/${APP}/bundles/1.0.0/compatibility`,
      undefined,
      reader.body.token,
    );
    expect(readReport.status).toBe(200);
  });
});
