/**
 * PostgreSQL goes away under a running server, then comes back. While it is down, what needs the
 * database answers 503 {error: 'database_unavailable'} with Retry-After (admin API, update checks of
 * apps this instance never loaded, stats events, which the plugin sends again), update checks of
 * apps it knows answer from their last snapshot, the devices' last-seen reports wait in memory,
 * /readyz says 503 and /healthz 200, and nothing crashes. Once it is back, everything works again
 * without a restart, and the reports of the outage are written.
 *
 * PostgreSQL only (SQLite is a file: it has no outage of this kind). The test has its own server
 * so that stopping it cannot disturb the suite's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKEND } from './helpers/backends.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { ADMIN_TOKEN, deviceInfo, sendJson, startTestServer, type TestServer } from './helpers/server.js';
import { makeZip } from './helpers/zips.js';

const APP = 'com.example.outage';
const outageEvent = {
  ...deviceInfo({ app_id: APP, device_id: 'outage-device' }),
  action: 'download_complete',
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.runIf(TEST_BACKEND === 'postgres')('a PostgreSQL outage under a running server', () => {
  let postgres: PostgresServer;
  let server: TestServer;
  let hooks: Server;
  const hookCalls: number[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  const admin = (method: string, route: string, body?: unknown) =>
    sendJson(`${server.url}/api/v1${route}`, method, body, { authorization: `Bearer ${ADMIN_TOKEN}` });
  const device = (method: string, route: string, body?: unknown) =>
    sendJson(`${server.url}${route}`, method, body, {});
  const check = (overrides: Record<string, unknown> = {}) =>
    device('POST', '/updates', deviceInfo({ app_id: APP, version_name: '1.0.0', ...overrides }));

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    postgres = await startPostgres();
    // A webhook receiver that fails the first delivery: its retry falls into the outage.
    hooks = createServer((request, response) => {
      request.resume();
      hookCalls.push(Date.now());
      response.writeHead(hookCalls.length === 1 ? 500 : 200).end();
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    // Its own PostgreSQL, which this test stops and starts; bundles on local disk.
    server = await startTestServer(
      {
        OVERAIR_DATABASE_URL: postgres.urlOf(await postgres.createDatabase()),
        OVERAIR_STORAGE: 'fs',
        // The webhook receiver listens on loopback.
        OVERAIR_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
      },
      { webhooks: { retryDelaysMs: [3000], timeoutMs: 2000 } },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await postgres?.destroy();
    await new Promise<void>((resolve) => (hooks ? hooks.close(() => resolve()) : resolve()));
    process.off('unhandledRejection', onUnhandled);
  });

  it('serves a released bundle while the database is up', async () => {
    expect((await admin('POST', '/apps', { id: APP })).status).toBe(201);
    const zip = await makeZip({ 'index.html': '<!doctype html><p>outage</p>' });
    const upload = await fetch(`${server.url}/api/v1/apps/${APP}/bundles/upload?version=1.0.1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/zip' },
      body: new Uint8Array(zip),
    });
    expect(upload.status).toBe(201);
    expect((await admin('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' })).status).toBe(
      200,
    );
    expect((await check()).body).toMatchObject({ version: '1.0.1' });

    const port = (hooks.address() as AddressInfo).port;
    const hook = await admin('POST', '/webhooks', { url: `http://127.0.0.1:${port}/hook` });
    expect(hook.status).toBe(201);
    expect((await admin('POST', `/webhooks/${hook.body.id}/test`)).status).toBeLessThan(300);
    // The first attempt failed (500) and its retry is planned 3 s later, inside the outage.
    await waitFor(async () => {
      const { body } = await admin('GET', `/webhooks/${hook.body.id}/deliveries`);
      return body.items[0]?.attempts === 1;
    });
  });

  it('answers 503 where the database is needed, and update checks from the last snapshot, while it is down', async () => {
    await postgres.stop();
    expect(hookCalls).toHaveLength(1); // the webhook retry is still ahead
    // Past the cache's TTL, so update checks below really try to reload the release.
    await sleep(server.services.cache.ttlMs + 200);

    for (const [method, route, body] of [
      ['GET', '/apps'],
      ['POST', '/apps', { id: 'com.example.new' }],
      ['PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.0.1' }],
      ['GET', `/apps/${APP}/stats`],
    ] as const) {
      const answer = await admin(method, route, body);
      expect(answer.status, `${method} ${route}`).toBe(503);
      expect(answer.body).toEqual({ error: 'database_unavailable', message: expect.any(String) });
      expect(answer.headers.get('retry-after')).toBe('5');
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    }

    // The fast path of POST /updates and the Hono route of /check both answer from the snapshot.
    expect(await check()).toMatchObject({ status: 200, body: { version: '1.0.1' } });
    const simple = await device('POST', '/check', { app_id: APP, version: '1.0.0' });
    expect(simple).toMatchObject({ status: 200, body: { version: '1.0.1' } });
    // An app this instance never loaded has no snapshot: 503, in the plugin's shape.
    const cold = await check({ app_id: 'com.example.cold' });
    expect(cold).toMatchObject({ status: 503, body: { error: 'database_unavailable', kind: 'failed' } });
    expect(cold.headers.get('retry-after')).toBe('5');

    // Stats events are answered 200 only once stored: 503, and the plugin keeps them to send again.
    const stats = await device('POST', '/stats', { ...outageEvent, version_name: '1.0.1' });
    expect(stats).toMatchObject({ status: 503, body: { error: 'database_unavailable' } });
    expect(stats.headers.get('retry-after')).toBe('5');
    // The devices' last-seen reports are kept until they can be written.
    await sleep(1000); // several flush attempts
    expect(server.services.activity.queued).toBeGreaterThanOrEqual(1);

    const ready = await device('GET', '/readyz');
    expect(ready).toMatchObject({
      status: 503,
      body: { error: 'not_ready', checks: { database: 'unavailable', storage: 'ok' } },
    });
    expect(ready.body.message).toMatch(/database/);
    expect(await device('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    // The downloads the snapshot points to come from storage alone.
    const download = await fetch((await check()).body.url);
    expect(download.status).toBe(200);
    await download.arrayBuffer();
    expect(unhandled).toEqual([]);
  });

  it('recovers by itself once the database is back, without losing the events of the outage', async () => {
    await postgres.start();
    const back = Date.now();
    await waitFor(async () => (await admin('GET', '/apps')).status === 200, 10_000);
    expect(Date.now() - back).toBeLessThan(5000);
    expect(await device('GET', '/readyz')).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', storage: 'ok' } },
    });
    expect((await admin('POST', '/apps', { id: 'com.example.new' })).status).toBe(201);
    expect((await check({ app_id: 'com.example.cold' })).status).toBe(404);

    // The queued activity is written at the next retry (at most 5 s apart).
    await waitFor(async () => server.services.activity.queued === 0, 10_000);
    const stats = await admin('GET', `/apps/${APP}/stats`);
    expect(stats.status).toBe(200);
    const devices = await admin('GET', `/apps/${APP}/devices/outage-device`);
    expect(devices.status).toBe(200);
    // The plugin sends the refused event again (every second until a 2xx): now it is stored.
    expect(await device('POST', '/stats', { ...outageEvent, version_name: '1.0.1' })).toMatchObject({
      status: 200,
      body: { status: 'ok' },
    });
    const { body } = await admin('GET', `/apps/${APP}/stats?since=1d`);
    expect(body.versions.find((entry: { version: string }) => entry.version === '1.0.1')).toMatchObject({
      downloads: 1,
    });

    // The webhook dispatcher, which failed while the database was down, picks up the planned retry.
    await waitFor(async () => hookCalls.length === 2, 10_000);
    expect(unhandled).toEqual([]);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}
