/**
 * The release cache's TTL rule for changes made behind its back: written straight into the database
 * (no invalidation, no notice, as by another instance whose notice was lost, or by hand), each change
 * of what an app's release is made of is in the update check's answer within the TTL plus one load,
 * because the database's triggers bump the app's release stamp (migration 0019). Device reports, the
 * hottest writes, bump nothing. On each project's database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.stamps';
/** The release cache's TTL (its default), and what a load and a request may add on a busy machine. */
const TTL_MS = 2_000;
const SLACK_MS = 1_000;
const LAYER = '{"capacitor":{"core":"6.1.0","android":"6.1.0","ios":null},"packages":[]}';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  expect((await server.api('POST', '/apps', { id: APP })).status).toBe(201);
  for (const version of ['1.0.0', '1.1.0']) {
    const zip = await makeZip({ 'index.html': `<!doctype html><!-- ${version} -->` });
    expect((await uploadBundle(server, APP, zip, { version })).status).toBe(201);
  }
  expect(
    (await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.0' })).status,
  ).toBe(200);
  expect((await server.api('POST', `/apps/${APP}/channels`, { name: 'beta' })).status).toBe(201);
  expect((await server.api('PUT', `/apps/${APP}/channels/beta/bundle`, { version: '1.0.0' })).status).toBe(
    200,
  );
});
afterAll(() => server.stop());

const check = async (device: string) =>
  (await server.device('POST', '/updates', deviceInfo({ app_id: APP, device_id: device }))).body;

const capawesomeCheck = async () => {
  const query = new URLSearchParams({
    appVersionCode: '10',
    appVersionName: '1.0.0',
    deviceId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
    platform: '0',
    pluginVersion: '8.4.3',
  });
  const response = await fetch(`${server.url}/v1/apps/${APP}/bundles/latest?${query}`);
  return { status: response.status, body: await response.json() };
};

const stamp = async () =>
  (await server.db.selectFrom('apps').select('release_stamp').where('id', '=', APP).executeTakeFirstOrThrow())
    .release_stamp;

/**
 * Runs `write` straight on the database while the app is checked continuously (so its entry stays
 * fresh and is refreshed, never left to expire), and expects `answer` to satisfy `changed` within
 * the TTL plus slack.
 */
async function servedInTime<T>(
  write: () => Promise<unknown>,
  answer: () => Promise<T>,
  changed: (answer: T) => boolean,
): Promise<void> {
  expect(changed(await answer())).toBe(false);
  const before = await stamp();
  await write();
  expect(await stamp()).toBeGreaterThan(before);
  const start = Date.now();
  let last = await answer();
  while (!changed(last) && Date.now() - start < TTL_MS + SLACK_MS) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    last = await answer();
  }
  expect(last).toSatisfy(changed);
}

describe('changes written straight into the database', () => {
  it("serves a channel's new live bundle", async () => {
    const { id } = await server.db
      .selectFrom('bundles')
      .select('id')
      .where('app_id', '=', APP)
      .where('version', '=', '1.1.0')
      .executeTakeFirstOrThrow();
    await servedInTime(
      () =>
        server.db
          .updateTable('channels')
          .set({ bundle_id: id })
          .where('app_id', '=', APP)
          .where('name', '=', 'production')
          .execute(),
      () => check('stamp-a'),
      (body) => body.version === '1.1.0',
    );
  });

  it("serves a device's channel override", async () => {
    expect((await check('stamp-b')).version).toBe('1.1.0');
    await server.services.activity.flush();
    await servedInTime(
      () =>
        server.db
          .updateTable('devices')
          .set({ channel_override: 'beta' })
          .where('app_id', '=', APP)
          .where('device_id', '=', 'stamp-b')
          .execute(),
      () => check('stamp-b'),
      (body) => body.version === undefined,
    );
  });

  it('serves a hold', async () => {
    const at = new Date().toISOString();
    await servedInTime(
      () =>
        server.db
          .insertInto('device_holds')
          .values({
            app_id: APP,
            device_id: 'stamp-c',
            version: '1.1.0',
            install_failures: 1,
            last_action: 'update_fail',
            first_at: at,
            last_at: at,
          })
          .execute(),
      () => check('stamp-c'),
      (body) => body.error === 'update_failed_on_device',
    );
  });

  it('serves a channel refusing unregistered binaries, then a binary registered', async () => {
    // The gate needs the bundle's native layer (a bundle row change) and the channel's rule.
    await servedInTime(
      async () => {
        await server.db
          .updateTable('bundles')
          .set({ native_layer: LAYER, native_fingerprint: 'f'.repeat(64) })
          .where('app_id', '=', APP)
          .execute();
        await server.db
          .updateTable('channels')
          .set({ unregistered_binaries: 'refuse' })
          .where('app_id', '=', APP)
          .where('name', '=', 'production')
          .execute();
      },
      () => check('stamp-a'),
      (body) => body.error === 'native_build_unregistered',
    );
    await servedInTime(
      () =>
        server.db
          .insertInto('native_binaries')
          .values({
            app_id: APP,
            platform: 'android',
            version: '1.0.0',
            version_code: '10',
            native_layer: LAYER,
            native_fingerprint: 'f'.repeat(64),
            source: 'cli',
            created_at: new Date().toISOString(),
          })
          .execute(),
      () => check('stamp-a'),
      (body) => body.version === '1.1.0' && body.error === undefined,
    );
  });

  it("serves the app's requirement of signed bundles", async () => {
    await servedInTime(
      () => server.db.updateTable('apps').set({ require_signature: 1 }).where('id', '=', APP).execute(),
      capawesomeCheck,
      (answer) => answer.status === 404 && answer.body.error === 'unsigned_bundle',
    );
  });
});

describe('device reports', () => {
  it('do not bump the stamp: new devices, changed states, unchanged ones', async () => {
    const before = await stamp();
    for (const device of ['report-1', 'report-2', 'stamp-a']) {
      await server.device('POST', '/updates', deviceInfo({ app_id: APP, device_id: device }));
      await server.device(
        'POST',
        '/updates',
        deviceInfo({ app_id: APP, device_id: device, version_name: '1.1.0', version_os: '15' }),
      );
      await server.services.activity.flush();
    }
    expect(await stamp()).toBe(before);
  });
});
