import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeZip } from './helpers/zips.js';
import { cli } from './helpers/cli.js';
import { ADMIN_TOKEN, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';

const APP = 'com.example.holds';

describe('a device that failed a version is not offered it again', () => {
  let server: TestServer;
  const check = (deviceId: string, version: string) =>
    server.device(
      'POST',
      '/updates',
      deviceInfo({ app_id: APP, device_id: deviceId, version_name: version }),
    );
  const report = async (deviceId: string, ...events: { action: string; version_name: string }[]) => {
    const answer = await server.device(
      'POST',
      '/stats',
      events.map((event) => ({
        ...deviceInfo({ app_id: APP, device_id: deviceId }),
        old_version_name: '',
        ...event,
      })),
    );
    expect(answer.status).toBe(200);
    await server.services.activity.flush();
  };
  const release = (version: string) =>
    server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version });

  beforeAll(async () => {
    server = await startTestServer();
    await server.api('POST', '/apps', { id: APP });
    for (const version of ['1.0.0', '1.1.0', '1.2.0']) {
      const zip = await makeZip({ 'index.html': version, 'app.js': 'notifyAppReady()' });
      expect((await uploadBundle(server, APP, zip, { version })).status).toBe(201);
    }
    await release('1.1.0');
  });
  afterAll(() => server.stop());

  it('holds a version back from a device that rolled it back, and only from that device', async () => {
    expect((await check('failing', '1.0.0')).body.version).toBe('1.1.0');
    // What the plugin sends when notifyAppReady() did not come in time (protocol-capgo.md §8.3).
    await report(
      'failing',
      { action: 'update_fail', version_name: '1.1.0' },
      { action: 'app_launch_timeout', version_name: '1.1.0' },
    );
    const held = await check('failing', '1.0.0');
    expect(held.body).toMatchObject({ kind: 'blocked', error: 'update_failed_on_device', version: '1.1.0' });
    expect(held.body).not.toHaveProperty('url');
    expect((await check('healthy', '1.0.0')).body.version).toBe('1.1.0');

    const holds = await server.api('GET', `/apps/${APP}/holds`);
    expect(holds.body.items).toEqual([
      expect.objectContaining({
        device_id: 'failing',
        version: '1.1.0',
        install_failures: 2,
        held: true,
        last_action: 'app_launch_timeout',
      }),
    ]);
  });

  it('offers the device the next release', async () => {
    await release('1.2.0');
    expect((await check('failing', '1.0.0')).body.version).toBe('1.2.0');
  });

  it('offers the held version again once an admin clears the mark', async () => {
    await release('1.1.0');
    expect((await check('failing', '1.0.0')).body.error).toBe('update_failed_on_device');
    const cleared = await server.api('DELETE', `/apps/${APP}/devices/failing/holds?version=1.1.0`);
    expect(cleared.body).toEqual({ cleared: 1 });
    expect((await check('failing', '1.0.0')).body.version).toBe('1.1.0');
    expect((await server.api('GET', `/apps/${APP}/holds?device=failing`)).body.items).toEqual([]);
  });

  it('holds after repeated download failures, not after one', async () => {
    await report('flaky', { action: 'download_fail', version_name: '1.1.0' });
    expect((await check('flaky', '1.0.0')).body.version).toBe('1.1.0');
    await report(
      'flaky',
      { action: 'download_fail', version_name: '1.1.0' },
      { action: 'download_fail', version_name: '1.1.0' },
    );
    expect((await check('flaky', '1.0.0')).body.error).toBe('update_failed_on_device');
    const [hold] = (await server.api('GET', `/apps/${APP}/holds?device=flaky`)).body.items;
    expect(hold).toMatchObject({ download_failures: 3, install_failures: 0, held: true });
  });

  it('lists and clears holds from the CLI', async () => {
    const env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    const listed = await cli(['device', 'holds', '--app', APP, '--json'], { cwd: server.dataDir, env });
    expect(listed.json.map((h: { device_id: string }) => h.device_id)).toEqual(['flaky']);
    const cleared = await cli(['device', 'clear-hold', 'flaky', '--app', APP], { cwd: server.dataDir, env });
    expect(cleared.stdout).toContain('Cleared 1 hold');
    expect((await check('flaky', '1.0.0')).body.version).toBe('1.1.0');
  });
});
