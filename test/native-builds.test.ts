/**
 * Native test builds (APK, AAB, IPA) on named native channels: upload checks, history, the stable
 * latest link (signed with private downloads), delete, the update check's hint for devices whose
 * native build is too old, and the CLI.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { ADMIN_TOKEN, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.native';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function uploadNative(
  server: TestServer,
  bytes: Uint8Array,
  query: Record<string, string>,
  token = ADMIN_TOKEN,
): Promise<{ status: number; body: any }> {
  const response = await fetch(
    `${server.url}/api/v1/apps/${APP}/native/upload?${new URLSearchParams(query)}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(bytes),
    },
  );
  return { status: response.status, body: await response.json() };
}

describe('native builds', () => {
  let server: TestServer;
  let apk: Buffer;
  let ipa: Buffer;

  beforeAll(async () => {
    server = await startTestServer();
    await server.api('POST', '/apps', { id: APP });
    apk = await makeZip({ 'AndroidManifest.xml': '<manifest/>', 'classes.dex': 'dex\n035' });
    ipa = await makeZip({ 'Payload/App.app/Info.plist': '<plist/>' });
  });
  afterAll(() => server.stop());

  it('stores an APK and an IPA, checking the sha256 sent', async () => {
    const android = await uploadNative(server, apk, {
      platform: 'android',
      version: '1.4.0',
      channel: 'beta',
      version_code: '140',
      notes: 'new camera',
      sha256: sha256(apk),
    });
    expect(android.status).toBe(201);
    expect(android.body).toMatchObject({
      platform: 'android',
      version: '1.4.0',
      version_code: '140',
      channel: 'beta',
      file_kind: 'apk',
      sha256: sha256(apk),
      size: apk.length,
      notes: 'new camera',
      latest_url: `${server.url}/native/${APP}/beta/android/latest`,
    });
    const ios = await uploadNative(server, ipa, { platform: 'ios', version: '1.4.0', channel: 'beta' });
    expect(ios.status).toBe(201);
    expect(ios.body.file_kind).toBe('ipa');
    const wrongSha = await uploadNative(server, apk, {
      platform: 'android',
      version: '1.4.9',
      channel: 'beta',
      sha256: 'a'.repeat(64),
    });
    expect(wrongSha).toMatchObject({ status: 400, body: { error: 'checksum_mismatch' } });
  });

  it('refuses a non-zip, a zip without the expected entries, and a duplicate version', async () => {
    const notZip = await uploadNative(server, Buffer.from('just text'), {
      platform: 'android',
      version: '1.5.0',
      channel: 'beta',
    });
    expect(notZip).toMatchObject({ status: 400, body: { error: 'invalid_native_build' } });
    const fakeZip = await uploadNative(server, Buffer.from('PK but not a zip'), {
      platform: 'android',
      version: '1.5.0',
      channel: 'beta',
    });
    expect(fakeZip).toMatchObject({ status: 400, body: { error: 'invalid_native_build' } });
    const apkAsIpa = await uploadNative(server, apk, { platform: 'ios', version: '1.5.0', channel: 'beta' });
    expect(apkAsIpa).toMatchObject({ status: 400, body: { error: 'invalid_native_build' } });
    const ipaAsApk = await uploadNative(server, ipa, {
      platform: 'android',
      version: '1.5.0',
      channel: 'beta',
    });
    expect(ipaAsApk).toMatchObject({ status: 400, body: { error: 'invalid_native_build' } });
    const duplicate = await uploadNative(server, apk, {
      platform: 'android',
      version: '1.4.0',
      channel: 'qa',
    });
    expect(duplicate).toMatchObject({ status: 409, body: { error: 'version_exists' } });
    const badPlatform = await uploadNative(server, apk, {
      platform: 'web',
      version: '1.5.0',
      channel: 'beta',
    });
    expect(badPlatform.status).toBe(400);
  });

  it('lists builds newest first and redirects the stable link to the latest download', async () => {
    const newer = await makeZip({ 'AndroidManifest.xml': '<manifest v="2"/>', 'classes.dex': 'dex2' });
    expect(
      (await uploadNative(server, newer, { platform: 'android', version: '1.4.1', channel: 'beta' })).status,
    ).toBe(201);
    const all = await server.api('GET', `/apps/${APP}/native`);
    expect(all.body.items.map((b: any) => `${b.platform} ${b.version}`)).toEqual([
      'android 1.4.1',
      'ios 1.4.0',
      'android 1.4.0',
    ]);
    const ios = await server.api('GET', `/apps/${APP}/native?platform=ios&channel=beta`);
    expect(ios.body.items.map((b: any) => b.version)).toEqual(['1.4.0']);
    expect((await server.api('GET', `/apps/${APP}/native?channel=nightly`)).body.items).toEqual([]);

    const latest = await fetch(`${server.url}/native/${APP}/beta/android/latest`, { redirect: 'manual' });
    expect(latest.status).toBe(302);
    const target = latest.headers.get('location')!;
    expect(target).toBe(`${server.url}/download/${sha256(newer)}?name=${APP}-1.4.1.apk`);
    const download = await fetch(target);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="${APP}-1.4.1.apk"`);
    expect(download.headers.get('content-type')).toBe('application/vnd.android.package-archive');
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(newer));
    // A name that is not a plain file name is ignored.
    const odd = await fetch(`${server.url}/download/${sha256(newer)}?name=${encodeURIComponent('a"b.apk')}`);
    expect(odd.headers.get('content-disposition')).toBeNull();

    const none = await fetch(`${server.url}/native/${APP}/nightly/ios/latest`, { redirect: 'manual' });
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: 'native_build_not_found' });
  });

  it('tells a device whose native build is too old where the newer one is', async () => {
    const web = await makeZip({ 'index.html': '<!doctype html>' });
    expect(
      (await uploadBundle(server, APP, web, { version: '2.0.0', min_native_version: '1.4.0' })).status,
    ).toBe(201);
    await server.api('POST', `/apps/${APP}/channels`, {
      name: 'beta',
      allow_self_assign: true,
      version: '2.0.0',
    });
    const old = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, defaultChannel: 'beta', version_build: '1.3.0' }),
    );
    expect(old.body).toMatchObject({ kind: 'blocked', error: 'native_version_too_old', breaking: true });
    expect(old.body.link).toMatch(
      new RegExp(`^${server.url}/download/[0-9a-f]{64}\\?name=${APP.replace(/\./g, '\\.')}-1\\.4\\.1\\.apk$`),
    );
    expect(old.body.comment).toBe('Native 1.4.0 required; android build 1.4.1 is available');
    const iphone = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, platform: 'ios', defaultChannel: 'beta', version_build: '1.3.0' }),
    );
    expect(iphone.body.link).toContain('.ipa');
    const fresh = await server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, defaultChannel: 'beta', version_build: '1.4.0' }),
    );
    expect(fresh.body.version).toBe('2.0.0');
    expect(fresh.body.link).toBeUndefined();
  });

  it('deletes a build, keeping its bytes only while another build uses them', async () => {
    expect((await server.api('DELETE', `/apps/${APP}/native/android/1.4.1`)).body).toEqual({ deleted: true });
    expect((await server.api('DELETE', `/apps/${APP}/native/android/1.4.1`)).status).toBe(404);
    const latest = await fetch(`${server.url}/native/${APP}/beta/android/latest`, { redirect: 'manual' });
    expect(latest.headers.get('location')).toContain(sha256(apk));
    expect(await server.services.store.size(sha256(apk))).toBe(apk.length);
  });

  it('uploads, lists and deletes with the CLI', async () => {
    const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-native-cli-'));
    try {
      const file = path.join(cwd, 'app-release.apk');
      const bytes = await makeZip({ 'AndroidManifest.xml': '<manifest v="cli"/>', 'classes.dex': 'cli' });
      await fs.writeFile(file, bytes);
      const env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
      const upload = await cli(
        [
          'native',
          'upload',
          'app-release.apk',
          '--app',
          APP,
          '--platform',
          'android',
          '--version',
          '1.6.0',
        ].concat(['--channel', 'qa', '--version-code', '160', '--notes', 'from CI', '--json']),
        { cwd, env },
      );
      expect(upload.stderr).toBe('');
      expect(upload.code).toBe(0);
      expect(upload.json).toMatchObject({
        version: '1.6.0',
        channel: 'qa',
        sha256: sha256(bytes),
        file_kind: 'apk',
      });
      const list = await cli(['native', 'list', '--app', APP, '--channel', 'qa', '--json'], { cwd, env });
      expect(list.json.map((b: any) => b.version)).toEqual(['1.6.0']);
      const text = await cli(['native', 'list', '--app', APP, '--platform', 'android'], { cwd, env });
      expect(text.stdout).toMatch(/android\s+1\.6\.0\s+160\s+qa\s+apk/);
      const removed = await cli(['native', 'delete', 'android', '1.6.0', '--app', APP], { cwd, env });
      expect(removed.code).toBe(0);
      const missing = await cli(['native', 'delete', 'android', '1.6.0', '--app', APP], { cwd, env });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('native_build_not_found');
      const badPlatform = await cli(['native', 'list', '--app', APP, '--platform', 'web'], { cwd, env });
      expect(badPlatform.stderr).toContain('android or ios');
    } finally {
      await fs.rm(cwd, { recursive: true, force: true });
    }
  });
});

describe('native builds with private downloads', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      OVERAIR_PRIVATE_DOWNLOADS: 'true',
      OVERAIR_MAX_NATIVE_UPLOAD_SIZE: '1kb',
    });
    await server.api('POST', '/apps', { id: APP });
  });
  afterAll(() => server.stop());

  it('redirects the stable link to a signed, expiring download', async () => {
    const ipa = await makeZip({ 'Payload/App.app/Info.plist': '<plist/>' });
    expect(
      (await uploadNative(server, ipa, { platform: 'ios', version: '3.0.0', channel: 'beta' })).status,
    ).toBe(201);
    const latest = await fetch(`${server.url}/native/${APP}/beta/ios/latest`, { redirect: 'manual' });
    expect(latest.status).toBe(302);
    const target = latest.headers.get('location')!;
    expect(target).toMatch(
      /\/download\/[0-9a-f]{64}\?exp=\d+&sig=[A-Za-z0-9_-]{43}&name=com\.example\.native-3\.0\.0\.ipa$/,
    );
    const download = await fetch(target);
    expect(download.status).toBe(200);
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(ipa));
    const unsigned = await fetch(`${server.url}/download/${sha256(ipa)}`);
    expect(unsigned.status).toBe(403);
  });

  it('refuses an upload over OVERAIR_MAX_NATIVE_UPLOAD_SIZE', async () => {
    const big = await makeZip({ 'AndroidManifest.xml': 'x'.repeat(4096) });
    const answer = await uploadNative(server, big, {
      platform: 'android',
      version: '3.0.0',
      channel: 'beta',
    });
    expect(answer).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
  });
});
