import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VECTORS, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';

const APP = 'com.example.app';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('a device on the Capgo plugin, end to end', () => {
  let server: TestServer;
  let zip: Buffer;

  beforeAll(async () => {
    server = await startTestServer();
    zip = await fs.readFile(path.join(VECTORS, 'bundle.zip'));
    expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  });
  afterAll(() => server.stop());

  it('gets nothing before a bundle is live', async () => {
    const answer = await server.device('POST', '/updates', deviceInfo());
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      error: 'no_new_version_available',
      message: 'No new version available',
      kind: 'up_to_date',
    });
  });

  it('downloads the bundle made by the Capgo CLI once it is live, and its checksum matches', async () => {
    const expected = JSON.parse(await fs.readFile(path.join(VECTORS, 'zip-output.json'), 'utf8')) as {
      checksum: string;
    };
    const upload = await uploadBundle(server, APP, zip, {
      version: '1.0.1',
      sha256: expected.checksum,
      notes: 'first',
    });
    expect(upload.status).toBe(201);
    expect(upload.body).toMatchObject({
      version: '1.0.1',
      sha256: expected.checksum,
      size: zip.length,
      encrypted: false,
    });

    const live = await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' });
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ name: 'production', version: '1.0.1' });

    const answer = await server.device('POST', '/updates', deviceInfo({ version_name: '1.0.0' }));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      version: '1.0.1',
      url: `${server.url}/download/${expected.checksum}`,
      checksum: expected.checksum,
      comment: 'first',
      // The bundle's files for a delta update (test/delta.test.ts): index.html, assets/app.js...
      manifest: expect.arrayContaining([expect.objectContaining({ file_name: 'index.html' })]),
    });
    expect(JSON.stringify(answer.body)).not.toContain('null');

    const download = await fetch(answer.body.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-encoding')).toBeNull();
    const bytes = new Uint8Array(await download.arrayBuffer());
    expect(sha256(bytes)).toBe(answer.body.checksum);
  });

  it('answers alike through the Node fast path and the Hono route used on other runtimes', async () => {
    for (const body of [
      deviceInfo({ version_name: '1.0.0' }),
      deviceInfo({ version_name: '1.0.1' }),
      deviceInfo({ app_id: 'com.unknown.app' }),
      { app_id: 42 },
    ]) {
      const viaSocket = await server.device('POST', '/updates', body);
      const viaHono = await server.app.request(`${server.url}/updates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(viaHono.status).toBe(viaSocket.status);
      expect(await viaHono.json()).toEqual(viaSocket.body);
    }
  });

  it('answers up to date once the device runs the live bundle', async () => {
    const answer = await server.device('POST', '/updates', deviceInfo({ version_name: '1.0.1' }));
    expect(answer.body).toMatchObject({ kind: 'up_to_date', error: 'no_new_version_available' });
  });

  it('treats "builtin" from older plugins as the native version', async () => {
    // A pre-8.44 device on a store build whose native version equals the live bundle has nothing to do...
    const same = await server.device(
      'POST',
      '/updates',
      deviceInfo({ version_name: 'builtin', version_build: '1.0.1', plugin_version: '7.20.0' }),
    );
    expect(same.body.kind).toBe('up_to_date');
    // ...while one on an older store build gets the bundle.
    const older = await server.device(
      'POST',
      '/updates',
      deviceInfo({ version_name: 'builtin', version_build: '1.0.0', plugin_version: '7.20.0' }),
    );
    expect(older.body.version).toBe('1.0.1');
  });

  it('records the device with what it reported and the channel it was served from', async () => {
    await server.device(
      'POST',
      '/updates',
      deviceInfo({ device_id: 'dev-record', version_name: '1.0.0', custom_id: 'user-7' }),
    );
    const device = await server.api('GET', `/apps/${APP}/devices/dev-record`);
    expect(device.status).toBe(200);
    expect(device.body).toMatchObject({
      device_id: 'dev-record',
      platform: 'android',
      version_name: '1.0.0',
      version_build: '1.0.0',
      plugin_version: '8.51.23',
      custom_id: 'user-7',
      channel: 'production',
      is_emulator: false,
    });
    const listed = await server.api('GET', `/apps/${APP}/devices?channel=production&platform=android`);
    expect(listed.body.items.map((d: { device_id: string }) => d.device_id)).toContain('dev-record');
    const none = await server.api('GET', `/apps/${APP}/devices?platform=ios`);
    expect(none.body.items).toEqual([]);
  });

  it('holds a bundle back from devices below its minimum native version, with a breaking flag', async () => {
    await uploadBundle(server, APP, zip, { version: '2.0.0', min_native_version: '2.0.0' });
    await server.api('POST', `/apps/${APP}/channels`, {
      name: 'next',
      allow_self_assign: true,
      version: '2.0.0',
    });
    const old = await server.device(
      'POST',
      '/updates',
      deviceInfo({ defaultChannel: 'next', version_build: '1.5.0' }),
    );
    expect(old.body).toMatchObject({
      kind: 'blocked',
      error: 'native_version_too_old',
      version: '2.0.0',
      breaking: true,
    });
    const fresh = await server.device(
      'POST',
      '/updates',
      deviceInfo({ defaultChannel: 'next', version_build: '2.0.0' }),
    );
    expect(fresh.body.version).toBe('2.0.0');
  });

  it('lets a device join a self-assignable channel through the channel API, and lists only joinable channels', async () => {
    await server.api('POST', `/apps/${APP}/channels`, { name: 'internal' });
    const list = await server.device('GET', `/channel_self?${new URLSearchParams(deviceInfo() as never)}`);
    expect(list.status).toBe(200);
    expect(list.body).toEqual([
      { id: expect.any(Number), name: 'next', public: false, allow_self_set: true },
      { id: expect.any(Number), name: 'production', public: true, allow_self_set: false },
    ]);

    const join = await server.device('POST', '/channel_self', { ...deviceInfo(), channel: 'next' });
    expect(join.body).toEqual({ status: 'ok', allowSet: true });
    const refused = await server.device('POST', '/channel_self', { ...deviceInfo(), channel: 'internal' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('channel_self_set_not_allowed');
    const missing = await server.device('POST', '/channel_self', { ...deviceInfo(), channel: 'nope' });
    expect(missing.body.error).toBe('channel_not_found');
    // Joining the default channel tells the plugin to drop its local choice.
    const back = await server.device('POST', '/channel_self', { ...deviceInfo(), channel: 'production' });
    expect(back.body).toEqual({ status: 'ok', unset: true });
  });

  it('keeps the channel of old plugins on the server until they unset it with DELETE', async () => {
    const old = deviceInfo({
      device_id: 'old-plugin',
      plugin_version: '7.20.0',
      version_build: '2.0.0',
      version_name: '1.0.0',
    });
    await server.device('POST', '/channel_self', { ...old, channel: 'next' });
    // The old plugin does not send the channel back as defaultChannel: the server remembers it.
    expect((await server.device('POST', '/updates', old)).body.version).toBe('2.0.0');
    expect((await server.device('PUT', '/channel_self', old)).body).toEqual({
      channel: 'next',
      status: 'override',
      allowSet: true,
    });
    expect((await server.device('DELETE', '/channel_self', old)).body).toEqual({ status: 'ok' });
    expect((await server.device('POST', '/updates', old)).body.version).toBe('1.0.1');
  });

  it('does not store the channel of new plugins, which send it back themselves', async () => {
    const fresh = deviceInfo({ device_id: 'new-plugin', version_build: '2.0.0' });
    await server.device('POST', '/channel_self', { ...fresh, channel: 'next' });
    // After a local unsetChannel the device asks for nothing and must get the default channel.
    expect((await server.device('POST', '/updates', fresh)).body.version).toBe('1.0.1');
    expect((await server.device('POST', '/updates', { ...fresh, defaultChannel: 'next' })).body.version).toBe(
      '2.0.0',
    );
    expect((await server.device('PUT', '/channel_self', fresh)).body).toEqual({
      channel: 'production',
      status: 'default',
      allowSet: false,
    });
  });

  it('puts an overridden device on its channel whatever it asks for, until the override is cleared', async () => {
    const qa = deviceInfo({ device_id: 'qa-phone', version_build: '2.0.0', defaultChannel: '' });
    const set = await server.api('PUT', `/apps/${APP}/devices/qa-phone/channel`, { channel: 'next' });
    expect(set.status).toBe(200);
    expect(set.body.channel_override).toBe('next');
    expect((await server.device('POST', '/updates', qa)).body.version).toBe('2.0.0');
    expect((await server.device('PUT', '/channel_self', qa)).body).toMatchObject({
      channel: 'next',
      status: 'override',
    });
    const cleared = await server.api('DELETE', `/apps/${APP}/devices/qa-phone/channel`);
    expect(cleared.body.channel_override).toBeNull();
    expect((await server.device('POST', '/updates', qa)).body.version).toBe('1.0.1');
  });

  it('answers channel get and list errors with HTTP 200, which Android can read', async () => {
    const get = await server.device('PUT', '/channel_self', deviceInfo({ app_id: 'com.unknown.app' }));
    expect(get).toMatchObject({ status: 200, body: { error: 'app_not_found' } });
    const list = await server.device(
      'GET',
      `/channel_self?${new URLSearchParams(deviceInfo({ app_id: 'com.unknown.app' }) as never)}`,
    );
    expect(list).toMatchObject({ status: 200, body: { error: 'app_not_found' } });
  });

  it('answers an unknown app on the update check with the error and kind the plugin reads', async () => {
    const answer = await server.device('POST', '/updates', deviceInfo({ app_id: 'com.unknown.app' }));
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({
      error: 'app_not_found',
      kind: 'failed',
      message: expect.any(String),
    });
  });

  it('accepts stats as a single object and as a batch, and records the events', async () => {
    const event = {
      ...deviceInfo({ device_id: 'stats-dev' }),
      action: 'set',
      version_name: '1.0.1',
      old_version_name: '1.0.0',
    };
    expect((await server.device('POST', '/stats', event)).body).toEqual({ status: 'ok' });
    const batch = await server.device('POST', '/stats', [
      { ...event, action: 'download_complete', timestamp: Date.now() },
      { ...event, action: 'some_future_action' },
      { ...event, app_id: 'com.unknown.app' },
    ]);
    expect(batch.status).toBe(200);
    expect(batch.body.results).toEqual([
      { status: 'ok', index: 0 },
      { status: 'ok', index: 1 },
      { status: 'error', index: 2, error: 'app_not_found', message: expect.any(String) },
    ]);
    await server.services.activity.flush();
    const device = await server.api('GET', `/apps/${APP}/devices/stats-dev`);
    expect(device.body.version_name).toBe('1.0.1');
  });

  it('serves home-made clients on POST /check', async () => {
    const update = await server.device('POST', '/check', {
      app_id: APP,
      channel: 'production',
      version: '1.0.0',
    });
    expect(update.body).toEqual({
      version: '1.0.1',
      url: expect.stringContaining('/download/'),
      checksum: expect.any(String),
    });
    expect(
      (await server.device('POST', '/check', { app_id: APP, channel: 'production', version: '1.0.1' })).body,
    ).toEqual({});
    const next = await server.device('POST', '/check', {
      app_id: APP,
      channel: 'next',
      version: '1.0.1',
      native_version: '2.1',
    });
    expect(next.body.version).toBe('2.0.0');
  });
});
