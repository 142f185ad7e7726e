/**
 * Watching one device live (docs/devices.md#watching-a-device-live): its checks, downloads and
 * events as server-sent events, on whichever instance they happen, for as long as the watcher's
 * session or token lasts, with a bounded buffer per stream.
 */
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { openSse, type SseStream } from './helpers/sse.js';
import { ADMIN_TOKEN, deviceInfo, startTestServer, uploadBundle, type TestServer } from './helpers/server.js';
import { waitFor } from './helpers/wait.js';
import { runSql } from './helpers/sql.js';
import { TEST_BACKEND } from './helpers/backends.js';
import { LISTENER_NAME } from '../src/db/release-notifications.js';
import { makeZip } from './helpers/zips.js';
import { LIVE_LIMITS } from '../src/http/live-routes.js';

const APP = 'com.example.watched';
const liveUrl = (server: { url: string }, device: string, app = APP) =>
  `${server.url}/api/v1/apps/${app}/devices/${device}/live`;
const bearer = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

describe('watching a device live', () => {
  let server: TestServer;
  const streams: SseStream[] = [];
  const watch = async (device: string, headers: Record<string, string> = bearer(), app = APP) => {
    const stream = await openSse(liveUrl(server, device, app), headers);
    streams.push(stream);
    return stream;
  };
  const check = (device: string, extra: Record<string, unknown> = {}) =>
    server.device('POST', '/updates', deviceInfo({ app_id: APP, device_id: device, ...extra }));

  beforeAll(async () => {
    server = await startTestServer({ OVERAIR_AUTH_MAX_FAILURES: '0' });
    await server.api('POST', '/apps', { id: APP });
    for (const version of ['1.0.0', '1.1.0']) {
      const zip = await makeZip({ 'index.html': version });
      expect((await uploadBundle(server, APP, zip, { version })).status).toBe(201);
    }
    await server.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '1.1.0' });
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    // Each test starts with no stream open (the limits per token count them).
    await waitFor(() => server.services.live.streams === 0);
  });
  afterAll(() => server.stop());

  it('shows a check within a second: what the device sent, what it was answered, and why', async () => {
    const stream = await watch('phone-1');
    expect(stream.status).toBe(200);
    const sent = Date.now();
    expect((await check('phone-1', { version_name: '1.0.0', platform: 'ios' })).body.version).toBe('1.1.0');
    const event = await stream.next((data) => data.kind === 'check', { timeoutMs: 1000 });
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(event).toMatchObject({
      app_id: APP,
      device_id: 'phone-1',
      sent: { platform: 'ios', version_name: '1.0.0' },
      answer: { outcome: 'update', version: '1.1.0', channel: 'production' },
    });
    expect(event.reason).toBe(
      `Channel "production" (the app's default channel) serves 1.1.0; the device runs 1.0.0`,
    );
    // A refusal carries the decision's own reason.
    await server.api('PATCH', `/apps/${APP}/channels/production`, { platforms: ['android'] });
    await check('phone-1', { version_name: '1.0.0', platform: 'ios' });
    const refused = await stream.next((data) => data.kind === 'check' && data.answer.outcome === 'blocked', {
      timeoutMs: 2000,
    });
    expect(refused.answer.error).toBe('disabled_platform_ios');
    expect(refused.reason).toContain('does not serve this device');
    await server.api('PATCH', `/apps/${APP}/channels/production`, { platforms: [] });
    // Another device's checks are not in this stream.
    await check('phone-2');
    await check('phone-1', { version_name: '1.1.0' });
    await stream.next((data) => data.kind === 'check' && data.answer.outcome === 'up_to_date');
    expect(stream.events.every((event) => event.data.device_id === 'phone-1')).toBe(true);
  });

  it('shows downloads and device events once they are committed', async () => {
    const stream = await watch('phone-3');
    const stats = await server.device(
      'POST',
      '/stats',
      ['download_complete', 'set'].map((action) => ({
        ...deviceInfo({ app_id: APP, device_id: 'phone-3' }),
        action,
        version_name: '1.1.0',
        old_version_name: '1.0.0',
      })),
    );
    expect(stats.status).toBe(200);
    expect(await stream.next((data) => data.kind === 'download')).toMatchObject({
      action: 'download_complete',
      version_name: '1.1.0',
      channel: 'production',
    });
    expect(await stream.next((data) => data.kind === 'event')).toMatchObject({
      action: 'set',
      version_name: '1.1.0',
      old_version_name: '1.0.0',
    });
  });

  it('refuses an unknown app (404) and a bad device id (400)', async () => {
    const unknown = await watch('phone-1', bearer(), 'com.example.nothing');
    expect(unknown.status).toBe(404);
    expect(unknown.error.error).toBe('app_not_found');
    const bad = await openSse(`${server.url}/api/v1/apps/${APP}/devices/%2E%2E%2Fx/live`, bearer());
    expect(bad.status).toBe(400);
    const anonymous = await watch('phone-1', {});
    expect(anonymous.status).toBe(401);
  });

  it('ends the stream when its session ends', async () => {
    const signIn = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: ADMIN_TOKEN }),
    });
    expect(signIn.status).toBe(200);
    const cookie = /overair_session=([^;]+)/.exec(signIn.headers.get('set-cookie') ?? '')![1]!;
    const { csrf_token: csrf } = (await signIn.json()) as { csrf_token: string };
    const stream = await watch('phone-4', { cookie: `overair_session=${cookie}` });
    expect(stream.status).toBe(200);
    const out = await fetch(`${server.url}/api/v1/session`, {
      method: 'DELETE',
      headers: { cookie: `overair_session=${cookie}`, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(200);
    const closed = await stream.next((data) => data.kind === 'closed', {
      timeoutMs: LIVE_LIMITS.recheckMs + 2000,
    });
    expect(closed.reconnect).toBe(false);
    await stream.ended;
    // And the cookie opens no new one.
    expect((await watch('phone-4', { cookie: `overair_session=${cookie}` })).status).toBe(401);
  });

  it('ends the stream when its token is revoked', async () => {
    const created = await server.api('POST', '/tokens', { name: 'watcher', scope: 'read' });
    const stream = await watch('phone-5', bearer(created.body.token));
    expect(stream.status).toBe(200);
    expect((await server.api('DELETE', `/tokens/${created.body.id}`)).status).toBe(200);
    await stream.next((data) => data.kind === 'closed', { timeoutMs: LIVE_LIMITS.recheckMs + 2000 });
    await stream.ended;
  });

  it("refuses a role on another app only, and ends a stream whose token loses the app's role", async () => {
    expect((await server.api('POST', '/apps', { id: 'com.example.elsewhere' })).status).toBe(201);
    const elsewhere = await server.api('POST', '/tokens', {
      name: 'elsewhere',
      roles: { apps: { 'com.example.elsewhere': 'admin' } },
    });
    const refused = await watch('phone-7', bearer(elsewhere.body.token));
    expect(refused.status).toBe(403);
    // Read on this app: watched, until the role is gone (the token stays valid for the other app).
    const reader = await server.api('POST', '/tokens', {
      name: 'reader',
      roles: { apps: { [APP]: 'read', 'com.example.elsewhere': 'read' } },
    });
    const stream = await watch('phone-7', bearer(reader.body.token));
    expect(stream.status).toBe(200);
    await runSql(server, 'DELETE FROM app_grants WHERE token_id = ? AND app_id = ?', reader.body.id, APP);
    await stream.next((data) => data.kind === 'closed', { timeoutMs: LIVE_LIMITS.recheckMs + 2000 });
    await stream.ended;
  });

  it('resumes a dropped stream from Last-Event-ID: the events in between are replayed', async () => {
    const first = await watch('phone-6');
    await check('phone-6', { version_name: '1.0.0' });
    await first.next((data) => data.kind === 'check');
    const lastId = first.events.at(-1)!.id!;
    first.close();
    await waitFor(() => server.services.live.streams === 0);
    // Missed while disconnected: the watch lingers on this instance and keeps them.
    await check('phone-6', { version_name: '1.0.1' });
    await check('phone-6', { version_name: '1.0.2' });
    const resumed = await watch('phone-6', { ...bearer(), 'last-event-id': lastId });
    await resumed.next((data) => data.kind === 'check' && data.sent.version_name === '1.0.2');
    expect(resumed.events.map((event) => event.data.sent.version_name)).toEqual(['1.0.1', '1.0.2']);
    // An id this instance never gave says that events may be missing.
    const foreign = await watch('phone-6', { ...bearer(), 'last-event-id': 'elsewhere-1.7' });
    expect(await foreign.next((data) => data.kind === 'gap')).toEqual({ kind: 'gap', missed: null });
  });

  it('bounds the streams one token may hold open (429)', async () => {
    const created = await server.api('POST', '/tokens', { name: 'many', scope: 'read' });
    const open = [];
    for (let i = 0; i < LIVE_LIMITS.perPrincipal; i++) {
      const stream = await watch(`many-${i}`, bearer(created.body.token));
      expect(stream.status).toBe(200);
      open.push(stream);
    }
    const refused = await watch('many-x', bearer(created.body.token));
    expect(refused.status).toBe(429);
    expect(refused.error.error).toBe('too_many_live_streams');
    // Another token is not affected, and closing one frees its place.
    expect((await watch('many-y')).status).toBe(200);
    open[0]!.close();
    await waitFor(async () => {
      const again = await watch('many-z', bearer(created.body.token));
      return again.status === 200;
    });
  });

  it('keeps a bounded buffer for a reader that does not read: the oldest events go, counted', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /api/v1/apps/${APP}/devices/slow/live HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`,
    );
    socket.pause();
    await waitFor(() => server.services.live.streams > 0 && server.services.live.watching(APP, 'slow'));
    // 6,000 events of 6 KB: far more than the socket buffers and the stream's bound hold.
    const total = 6000;
    const big = 'x'.repeat(6000);
    for (let i = 0; i < total; i++) {
      server.services.live.publish({
        kind: 'event',
        app_id: APP,
        device_id: 'slow',
        at: new Date().toISOString(),
        action: `test_${i}`,
        version_name: '1.0.0',
        old_version_name: '',
        channel: big,
      });
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const memory = process.memoryUsage().rss;
    // Now read everything: what was kept, and markers saying how many were dropped.
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.resume();
    await waitFor(() => text.includes(`"action":"test_${total - 1}"`), { timeoutMs: 10_000 });
    socket.destroy();
    const received = text.match(/^id: /gm)?.length ?? 0;
    const dropped = [...text.matchAll(/"kind":"dropped","count":(\d+)/g)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
    expect(dropped).toBeGreaterThan(0);
    expect(received + dropped).toBe(total);
    expect(received).toBeLessThan(total);
    expect(memory).toBeLessThan(2 * 1024 ** 3);
  });

  it('`overair device watch` prints a check', async () => {
    const project = await fs.mkdtemp(path.join(os.tmpdir(), 'overair-watch-'));
    const env = { OVERAIR_SERVER: server.url, OVERAIR_TOKEN: ADMIN_TOKEN };
    const before = server.services.live.streams;
    const running = cli(['device', 'watch', 'cli-phone', '--app', APP, '--count', '1'], {
      cwd: project,
      env,
    });
    await Promise.race([
      waitFor(() => server.services.live.streams > before),
      running.then((result) => Promise.reject(new Error(`the CLI ended: ${JSON.stringify(result)}`))),
    ]);
    await check('cli-phone', { version_name: '1.0.0' });
    const result = await running;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/check\s+cli-phone 1\.0\.0 .*→ update 1\.1\.0 \(production\)/);
    expect(result.stdout).toContain(`serves 1.1.0; the device runs 1.0.0`);

    // The first watch has ended (its one event printed).
    await waitFor(() => server.services.live.streams === before);
    const json = cli(['device', 'watch', 'cli-phone', '--app', APP, '--count', '1', '--json'], {
      cwd: project,
      env,
    });
    await waitFor(() => server.services.live.streams > before);
    await check('cli-phone', { version_name: '1.1.0' });
    const lines = (await json).stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ kind: 'check', answer: { outcome: 'up_to_date' } });

    // A connection the server drops is resumed: the command goes on and prints the next check.
    await waitFor(() => server.services.live.streams === before);
    const resuming = cli(['device', 'watch', 'cli-phone', '--app', APP, '--count', '2'], {
      cwd: project,
      env,
    });
    await waitFor(() => server.services.live.streams > before);
    await check('cli-phone', { version_name: '1.0.0' });
    await waitFor(() => server.services.live.watching(APP, 'cli-phone'));
    server.services.live.endStreams();
    await waitFor(() => server.services.live.streams === before);
    await waitFor(() => server.services.live.streams > before, { timeoutMs: 8000 });
    await check('cli-phone', { version_name: '1.0.1' });
    const resumed = await resuming;
    expect(resumed.code).toBe(0);
    expect(resumed.stdout.trim().split('\n')).toHaveLength(2);
    expect(resumed.stdout).toContain('cli-phone 1.0.1');
    expect(resumed.stderr).toContain('reconnecting');

    const missing = await cli(['device', 'watch', 'cli-phone', '--app', 'com.example.none'], {
      cwd: project,
      env,
    });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('app_not_found');
    await fs.rm(project, { recursive: true, force: true });
  });
});

describe('watching a device on one instance while it checks on another', () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startTestServer();
    // The same database (and bucket); a data folder of its own on PostgreSQL, the same SQLite file.
    const { OVERAIR_DATA_DIR: dataDir, ...shared } = a.stateEnv;
    b = await startTestServer(
      shared.OVERAIR_DATABASE_URL === undefined ? { OVERAIR_DATA_DIR: dataDir! } : shared,
    );
    await a.api('POST', '/apps', { id: APP });
    const zip = await makeZip({ 'index.html': '2.0.0' });
    expect((await uploadBundle(a, APP, zip, { version: '2.0.0' })).status).toBe(201);
    await a.api('PUT', `/apps/${APP}/channels/production/bundle`, { version: '2.0.0' });
  });
  afterAll(async () => {
    // b shares a's data folder on SQLite: close it without removing anything.
    await b.close();
    await a.stop();
  });

  it("streams on A what the device's check on B was answered, within a second", async () => {
    const stream = await openSse(liveUrl(a, 'roaming'), bearer());
    expect(stream.status).toBe(200);
    try {
      // B learns of the watch at once on PostgreSQL (NOTIFY), within its refresh on SQLite.
      await waitFor(() => b.services.live.watching(APP, 'roaming'), { timeoutMs: 3000 });
      const sent = Date.now();
      const answer = await b.device('POST', '/updates', deviceInfo({ app_id: APP, device_id: 'roaming' }));
      expect(answer.body.version).toBe('2.0.0');
      const event = await stream.next((data) => data.kind === 'check', { timeoutMs: 1000 });
      expect(Date.now() - sent).toBeLessThan(1000);
      expect(event).toMatchObject({ device_id: 'roaming', answer: { outcome: 'update', version: '2.0.0' } });
      // A device nobody watches is not watched anywhere: its checks cost B one lookup.
      expect(b.services.live.watching(APP, 'nobody')).toBe(false);
    } finally {
      stream.close();
    }
  });

  it.skipIf(TEST_BACKEND !== 'postgres')(
    'listens again after the listening connections are lost (as in a PostgreSQL restart)',
    async () => {
      const killed = await runSql(
        a,
        'select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = ? and datname = current_database()',
        LISTENER_NAME,
      );
      expect(killed.length).toBe(2);
      const stream = await openSse(liveUrl(a, 'after-restart'), bearer());
      try {
        await waitFor(() => b.services.live.watching(APP, 'after-restart'), { timeoutMs: 3000 });
        // Until A listens again, B's events to it are lost: check until one arrives.
        await waitFor(
          async () => {
            await b.device('POST', '/updates', deviceInfo({ app_id: APP, device_id: 'after-restart' }));
            return stream.events.some((event) => event.data.kind === 'check');
          },
          { timeoutMs: 10_000, intervalMs: 250 },
        );
      } finally {
        stream.close();
      }
    },
  );
});
